"""Health checks through the whole of `berth up` (framework, master, agent, real Docker):

- a service on `berth/busybox`'s `httpd` with an HTTP check on its port mapping goes
  healthy: the job's status counts it, its instance says so, and the master's metering
  shows the check's response time for its task;
- a service whose check asks for a path httpd does not have is counted unhealthy, killed
  after `max_failures`, ends FAILED with `unhealthy: ...` and is restarted by its job's
  policy.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client
from tests.test_jobs_docker import _api

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker

HTTPD = ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && "
                     "exec httpd -f -p 8080 -h /www"]


def _agent_port() -> int:
    """A host port in the agent's default range that nothing on this host holds now."""
    for port in random.sample(range(31000, 32001), 1001):
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 31000-32000")


def _service(name: str, health_check: dict, **task) -> dict:
    return {"name": name, "type": "service", "count": 1,
            "restart": {"attempts": None, "delay": 0.2, "backoff": 1},
            "task": {"dockerimage": "berth/busybox", "cpus": 0.05, "mem": 16,
                     "nodetype": "lab", "arguments": HTTPD, "health_check": health_check,
                     **task}}


def _job(base: str, name: str) -> dict:
    status, job = _api(base, "GET", f"/v1/jobs/{name}")
    assert status == 200, job
    return job


def test_an_httpd_service_goes_healthy_and_its_check_response_time_is_metered(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    status, job = _api(base, "POST", "/v1/jobs", _service(
        "web", {"http": {"port_index": 0, "path": "/index.html", "status": 200},
                "grace": 10, "interval": 1, "timeout": 1},
        ports=[{"host_port": _agent_port(), "container_port": 8080}]))
    assert status == 201, job
    assert job["spec"]["task"]["health_check"]["http"]["path"] == "/index.html"

    def healthy():
        job = _job(base, "web")
        return job if job["healthy"] == 1 else None

    job = _poll(healthy, "the instance to be healthy")
    assert (job["running"], job["unhealthy"]) == (1, 0)
    [instance] = [i for i in job["instances"] if i["state"] == "RUNNING"]
    assert instance["healthy"] is True
    assert instance["reason"] == "health check: GET :8080/index.html answered 200"
    cli = subprocess.run([sys.executable, "-m", "cli", "job", "status", "web", "--url",
                          f"http://{base}"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent,
                         env={**os.environ, "COLUMNS": "200"})
    assert cli.returncode == 0, cli.stderr
    assert "healthy 1, unhealthy 0" in cli.stdout and "RUNNING healthy" in cli.stdout

    def timed():
        url = f"http://{launch.master}/v1/metering?since=0"
        with urllib.request.urlopen(url, timeout=30) as resp:
            samples = json.loads(resp.read())["samples"]
        return [s for s in samples if s["task_id"] == instance["id"]
                and s.get("response_time") is not None]

    samples = _poll(timed, "a metering sample with the check's response time")
    assert all(s["response_time"] > 0 for s in samples)


def test_a_service_failing_its_check_is_killed_unhealthy_and_restarted(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    status, job = _api(base, "POST", "/v1/jobs", _service(
        "sick", {"http": {"port": 8080, "path": "/nowhere"}, "grace": 0, "interval": 1,
                 "timeout": 1, "max_failures": 4}))
    assert status == 201, job

    def unhealthy():
        job = _job(base, "sick")
        return job if job["unhealthy"] == 1 else None

    job = _poll(unhealthy, "the instance to be counted unhealthy")
    assert job["healthy"] == 0
    assert [i["healthy"] for i in job["instances"] if i["state"] == "RUNNING"] == [False]

    def restarted():
        job = _job(base, "sick")
        failed = [i for i in job["instances"] if i["state"] == "FAILED"]
        return job if failed and job["restarts"] >= 1 else None

    job = _poll(restarted, "the unhealthy instance to be killed and restarted")
    failed = [i for i in job["instances"] if i["state"] == "FAILED"]
    assert failed[0]["reason"].startswith(
        "unhealthy: GET :8080/nowhere answered 404, not 2xx or 3xx (GET :8080/nowhere "
        "failed 4 times in a row)"), failed[0]["reason"]

    def replaced():  # a service keeps its count: the next instance runs
        job = _job(base, "sick")
        running = [i["id"] for i in job["instances"] if i["state"] == "RUNNING"]
        return running if running and failed[0]["id"] not in running else None

    _poll(replaced, "the restarted instance to run")
