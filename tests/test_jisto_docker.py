"""Jisto's jobs for real: `berth up` as a subprocess, SQLite, the local Docker engine
running `berth/busybox` (its default command, `sh` with no input, exits 0 at once).

- a job of 20 tasks made through `/v1/job` and `/v1/task` (curl, as the seed calls
  them), run with `RunJob`, ends with 20 finished: progress 100, nothing left;
- a job source archive (config.json with iterations, env, a UDP and a TCP port) uploaded
  with `curl -F`, run, ends Finished; one asking for a privileged container is refused by
  the agent's policy (its instance ends ERROR saying so; berth's relaunch policy then
  avoids the node);
- the CLI's verbs make, run and delete a job with jistocli's messages.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_framework_seed_session import _curl, _poll, berth_up, docker_client
from tests.test_jisto_source import config

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent
WAITS = 6  # of 20 s each: a failure bound, not a performance expectation


def _call(base: str, cwd: Path, method: str, path: str, body: dict | None = None) -> dict:
    args = ["-s", "-X", method, "--header", "Content-Type: application/json",
            "--header", "Accept: application/json"]
    if body is not None:
        args += ["-d", json.dumps(body)]
    return json.loads(_curl(*args, f"http://{base}{path}", cwd=cwd))


def _finish(base: str, cwd: Path, uuid: str) -> dict:
    """Wait for its berth job to end (berth's own wait), then read the Jisto job."""
    job = _call(base, cwd, "GET", f"/v1/job/{uuid}")
    for _ in range(WAITS):
        ended = _call(base, cwd, "GET", f"/v1/jobs/{job['Job']}/wait?timeout=20")
        if ended["phase"] in ("complete", "failed"):
            return _call(base, cwd, "GET", f"/v1/job/{uuid}")
    raise AssertionError(f"the job did not end: {json.dumps(ended, indent=1)}")


def test_a_job_of_20_tasks_run_with_runjob_ends_with_20_finished(berth_up):
    base, launch, cwd, _started = berth_up
    launch()
    job = _call(base, cwd, "POST", "/v1/job", {"Name": "MikeTestJob"})["UUID"]
    tasks = {_call(base, cwd, "POST", "/v1/task",
                   {"Image": "berth/busybox", "JobUUID": job})["UUID"] for _ in range(20)}
    assert len(tasks) == 20
    assert _call(base, cwd, "POST", f"/v1/job/{job}/op/RunJob") == {"UUID": job}
    done = _finish(base, cwd, job)
    assert done["State"] == "Finished", done
    assert (done["TasksFinished"], done["TasksRunning"], done["TasksLeft"]) == (20, 0, 0)
    assert done["Progress"] == 100 and done["Nodes"] == 1
    berth = _call(base, cwd, "GET", f"/v1/jobs/{done['Job']}")
    assert berth["succeeded"] == 20
    assert sum(1 for i in berth["instances"] if i["state"] == "FINISHED") == 20


def test_a_job_source_archive_runs_and_the_agents_policy_holds(berth_up):
    base, launch, cwd, _started = berth_up
    launch()
    port = random.randrange(31000, 32000)  # in the agent's offered port range
    (cwd / "job.tar.gz").write_bytes(config({
        "iterations": "3", "jobName": "Hello World!", "env": "SLEEP_TIME=1;baz=quux",
        "options": {"net": "bridged", "udpports": {str(port): "53"},
                    "tcpports": {str(port): "80"}}}))
    created = json.loads(_curl("-s", "-F", "archive=@job.tar.gz", "-F",
                               "image=berth/busybox", f"http://{base}/v1/jobsource", cwd=cwd))
    assert created["Name"] == "Hello World!"
    assert _call(base, cwd, "GET", f"/v1/job/{created['UUID']}")["State"] == "Created"
    _call(base, cwd, "POST", f"/v1/job/{created['UUID']}/op/RunJob")
    done = _finish(base, cwd, created["UUID"])
    assert (done["State"], done["TasksFinished"], done["Progress"]) == ("Finished", 3, 100)

    (cwd / "root.tar.gz").write_bytes(config({"iterations": "1",
                                              "options": {"privileged": "true"}}))
    refused = json.loads(_curl("-s", "-F", "archive=@root.tar.gz", "-F",
                               "image=berth/busybox", f"http://{base}/v1/jobsource", cwd=cwd))
    _call(base, cwd, "POST", f"/v1/job/{refused['UUID']}/op/RunJob")
    name = _call(base, cwd, "GET", f"/v1/job/{refused['UUID']}")["Job"]

    def refusal():
        instances = _call(base, cwd, "GET", f"/v1/jobs/{name}")["instances"]
        return [i["reason"] for i in instances if i["state"] == "ERROR"]

    [reason, *_] = _poll(refusal, "the agent to refuse the privileged container")
    assert "privileged containers are not allowed on this agent" in reason
    job = _call(base, cwd, "GET", f"/v1/job/{refused['UUID']}")
    assert job["TasksFinished"] == 0 and job["Progress"] == 0
    assert _call(base, cwd, "POST", f"/v1/job/{refused['UUID']}/op/DeleteJob") == {
        "UUID": refused["UUID"]}


def test_the_cli_creates_runs_and_deletes_a_job(berth_up):
    base, launch, cwd, _started = berth_up
    launch()

    def berth(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cli", *args, "--url", f"http://{base}"],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    job = re.search(r"Created Job\. Name: \{ MyJob \} UUID: \{ (\S+) \}",
                    berth("job", "create", "MyJob"))[1]
    for _ in range(2):
        berth("task", "create", job, "berth/busybox", "env", "SLEEP_TIME=1;baz=quux")
    assert f"Job Run operation success. UUID: {{ {job} }}" in berth("job", "run", job)
    done = _finish(base, cwd, job)
    assert (done["State"], done["TasksFinished"]) == ("Finished", 2)
    assert f"Deleted Job. UUID: {{ {job} }}" in berth("job", "delete", job)
    assert _call(base, cwd, "GET", "/v1/job") == {"Jobs": []}
