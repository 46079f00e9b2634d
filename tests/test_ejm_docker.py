"""The Elastic Job Master's flows for real: `berth up` (master, framework, an agent on the
local Docker engine) plus, where a flow needs one, a second agent whose Docker is broken
(tests/docker_proxy.py: its image inspections fail, or never answer).

- a job failing on a bad server is relaunched elsewhere, and on a node that keeps failing
  it gives up after `relaunch.errors` launches;
- a start-up that takes longer than `startup_timeout` is torn down and started again
  elsewhere;
- a client parameter change is seen by the next run of a scheduled job, in the
  container's own output (env and `${KEY}` in its arguments).

Each agent offers 512 MiB; a `blocker` service taking all of it keeps the first
launch of a job on the bad node, so each flow starts where it should, not by chance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.docker_proxy import BrokenDocker
from tests.test_framework_seed_session import _free_port, _poll, _stop, berth_up, docker_client
from tests.test_jobs_docker import _api, _wait

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent
TASK = {"dockerimage": "berth/busybox", "cpus": 0.05, "mem": 16, "nodetype": "lab"}
ROOM = ("--resources", "mem:512", "--headroom", "cpus:0;mem:0")  # each node offers 512 MiB



@pytest.fixture
def bad_agent(berth_up, tmp_path):
    """`start(mode)` runs a second agent, `bad-<id>`, whose Docker fails or hangs."""
    procs, proxies = [], []

    def start(mode: str) -> str:
        proxy = BrokenDocker(mode)
        proxies.append(proxy)
        hostname = f"bad-{uuid.uuid4().hex[:6]}"
        log = (tmp_path / f"{hostname}.log").open("a")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cli", "agent", "--master", berth_up[1].master,
             "--port", str(_free_port()), "--hostname", hostname, "--nodetype", "lab",
             *ROOM, "--ignore-incumbent",
             "--data-dir", str(tmp_path / hostname)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "DOCKER_HOST": proxy.__enter__(), "PYTHONUNBUFFERED": "1"}))
        return hostname

    yield start
    for proxy in proxies:  # first: a call hung in the broken Docker ends, and the agent can
        proxy.__exit__(None, None, None)
    for proc in procs:
        _stop(proc)


def _block_the_good_agent(base: str) -> None:
    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "blocker", "type": "service", "count": 1,
        "task": {**TASK, "mem": 512, "arguments": ["sleep", "3600"],
                 "constraints": [["hostname", "LIKE", "e2e-.*"]]}})
    assert status == 201, job
    _poll(lambda: _api(base, "GET", "/v1/jobs/blocker")[1]["running"] == 1,
          "the blocker to run")


def _agents(master: str) -> set[str]:
    """The agents registered with the master."""
    with urllib.request.urlopen(f"http://{master}/state", timeout=30) as resp:
        return {a["hostname"] for a in json.loads(resp.read())["agents"]}


def _first_instance_ended(base: str, name: str):
    def ended():
        job = _api(base, "GET", f"/v1/jobs/{name}")[1]
        done = [i for i in job["instances"] if i["state"] in ("ERROR", "KILLED", "FAILED")]
        return done[0] if done else None
    return _poll(ended, f"the first instance of {name} to end")


def test_a_job_failing_on_a_bad_server_is_relaunched_elsewhere_up_to_a_limit(
        berth_up, bad_agent):
    base, launch, _cwd, _started = berth_up
    launch(*ROOM)
    bad = bad_agent("fail")
    _block_the_good_agent(base)
    _poll(lambda: bad in _agents(launch.master), "the bad agent to register")

    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "etl", "type": "batch", "task": {**TASK, "arguments": ["echo", "loaded"]},
        "restart": {"delay": 0.2}, "relaunch": {"errors": 3, "avoid": 600}})
    assert status == 201, job
    first = _first_instance_ended(base, "etl")
    assert first["state"] == "ERROR" and first["host"] == bad
    assert "input/output error" in first["reason"], first
    _api(base, "POST", "/v1/jobs/blocker/stop", {})  # room on the good node again

    job = _wait(base, "etl")
    assert job["phase"] == "complete", job["reason"]
    [ran] = [i for i in job["instances"] if i["state"] == "FINISHED"]
    assert ran["host"].startswith("e2e-")  # elsewhere: the bad node is avoided
    assert [i["host"] for i in job["instances"]] == [bad, ran["host"]]

    # A node that keeps failing: the launches in a row that may end ERROR are spent.
    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "pinned", "type": "batch",
        "task": {**TASK, "arguments": ["true"], "constraints": [["hostname", "LIKE", bad]]},
        "restart": {"delay": 0.2, "backoff": 1}, "relaunch": {"errors": 2, "avoid": 0}})
    assert status == 201, job
    job = _wait(base, "pinned")
    assert job["phase"] == "failed" and "input/output error" in job["reason"], job
    assert [i["state"] for i in job["instances"]] == ["ERROR", "ERROR"]


def test_a_start_up_that_takes_too_long_is_torn_down_and_started_again(
        berth_up, bad_agent):
    base, launch, _cwd, _started = berth_up
    launch(*ROOM)
    slow = bad_agent("hang")
    _block_the_good_agent(base)
    _poll(lambda: slow in _agents(launch.master), "the slow agent to register")

    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "report", "type": "batch", "task": {**TASK, "arguments": ["echo", "done"]},
        "startup_timeout": 3, "relaunch": {"avoid": 600}})
    assert status == 201, job
    first = _first_instance_ended(base, "report")
    assert first["host"] == slow and first["state"] == "KILLED", first
    assert "startup_timeout" in first["reason"], first
    _api(base, "POST", "/v1/jobs/blocker/stop", {})

    job = _wait(base, "report")
    assert job["phase"] == "complete", job["reason"]
    assert [(i["host"] == slow, i["state"]) for i in job["instances"]] == [
        (True, "KILLED"), (False, "FINISHED")]


def test_a_client_parameter_change_is_seen_by_the_next_run(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    assert _api(base, "PUT", "/v1/clients/acme/parameters",
                {"GREETING": "hello", "TARGET": "world"})[0] == 200
    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "greet", "type": "batch", "client": "acme",
        "task": {**TASK, "env": {"TARGET": "the job's own"},
                 "arguments": ["sh", "-c", 'echo "$GREETING, $TARGET, ${GREETING}"']},
        "schedule": {"cron": "@monthly", "at": "04:00"}})
    assert status == 201 and job["phase"] == "scheduled", job

    def run_output() -> str:
        status, run = _api(base, "POST", "/v1/jobs/greet/launch", {})
        assert status == 201, run
        assert _wait(base, run["name"])["phase"] == "complete"
        with urllib.request.urlopen(f"http://{base}/v1/jobs/{run['name']}/logs",
                                    timeout=60) as resp:
            return resp.read().decode()

    # ${GREETING} in the arguments is resolved by berth; $GREETING by the shell from env
    assert run_output() == "hello, the job's own, hello\n"
    assert _api(base, "PUT", "/v1/clients/acme/parameters", {"GREETING": "bonjour"})[0] \
        == 200
    assert run_output() == "bonjour, the job's own, bonjour\n"
    status, doc = _api(base, "GET", "/v1/jobs/greet")
    assert [r["phase"] for r in doc["schedule"]["runs"]] == ["complete", "complete"]


@pytest.mark.timeout(300)  # two minute boundaries of the wall clock, at worst
def test_a_restart_of_berth_up_across_a_firing_runs_it_exactly_once(berth_up):
    """`berth up` is stopped, a firing time passes while it is down, and it starts again:
    with `catch_up: latest` the missed firing runs once, and nothing fired before the
    stop runs again (the last firing is on disk, as Chronos's and Aurora's were not)."""
    base, launch, _cwd, _started = berth_up
    proc = launch()
    status, job = _api(base, "POST", "/v1/jobs", {
        "name": "minutely", "type": "batch",
        "task": {**TASK, "arguments": ["true"]},
        "schedule": {"cron": "* * * * *", "catch_up": "latest"}})
    assert status == 201, job

    def runs() -> list[dict]:
        return _api(base, "GET", "/v1/jobs/minutely")[1]["schedule"]["runs"]

    # One firing before the stop, so that a last firing is on disk to be kept.
    before = _poll(runs, "the first firing", timeout=90)
    assert _stop(proc) == 0
    stopped_at = time.time()
    # A firing time passes while berth is down: the next whole minute, and a second more.
    time.sleep(60 - stopped_at % 60 + 1)  # ok: waiting for the wall clock's minute
    missed = float(int(time.time()) // 60 * 60)
    launch()
    _poll(lambda: any(r["firing"]["at"] == missed for r in runs()), "the missed firing")
    after = runs()
    firings = [r["firing"]["at"] for r in after if not r["manual"]]
    assert len(firings) == len(set(firings)), after  # no firing ran twice
    assert firings.count(missed) == 1
    earlier = {r["firing"]["at"] for r in before}
    assert all(f in earlier or f >= missed for f in firings), (before, after)
