"""Jobs for real: `berth up` as a subprocess, SQLite, the local Docker engine running
`berth/busybox` containers, the `/v1/jobs` API over HTTP.

- a batch of 20 completions finishes with exactly 20 successes, each index once;
- an instance that exits 3 is restarted `attempts` times, then the job is FAILED with
  the exit code in its reason;
- `kill -9` of `berth up` in the middle of a batch, then a restart on the same data dir:
  the job finishes and no index that had succeeded runs again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.test_framework_seed_session import _poll, berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker


def _api(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://{base}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _batch(name: str, completions: int, script: str, **extra) -> dict:
    return {"name": name, "type": "batch", "completions": completions,
            "task": {"dockerimage": "berth/busybox", "cpus": 0.05, "mem": 16,
                     "nodetype": "lab", "arguments": ["sh", "-c", script]}, **extra}


def _finished_indexes(job: dict) -> Counter:
    return Counter(i["index"] for i in job["instances"] if i["state"] == "FINISHED")


def _wait(base: str, name: str) -> dict:
    status, job = _api(base, "GET", f"/v1/jobs/{name}/wait?timeout=120")
    assert status == 200, job
    return job


def test_a_batch_of_20_completions_succeeds_exactly_20_times(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    status, job = _api(base, "POST", "/v1/jobs", _batch(
        "twenty", 20, 'test -n "$BERTH_JOB_INDEX" && echo "index $BERTH_JOB_INDEX"',
        parallelism=5))
    assert status == 201, job
    job = _wait(base, "twenty")
    assert job["phase"] == "complete", job["reason"]
    assert job["succeeded"] == 20
    assert _finished_indexes(job) == Counter(range(20))  # each index once
    status, again = _api(base, "POST", "/v1/jobs", _batch("twenty", 1, "true"))
    assert status == 409 and again["errors"] == [{"field": "name", "problem": "is taken"}]


def test_exit_3_is_restarted_attempts_times_then_the_job_fails_with_the_code(berth_up):
    base, launch, _cwd, _started = berth_up
    launch()
    status, job = _api(base, "POST", "/v1/jobs", _batch(
        "three", 1, "echo about to fail >&2; exit 3",
        restart={"attempts": 2, "delay": 0.2, "backoff": 1}))
    assert status == 201, job
    job = _wait(base, "three")
    assert job["phase"] == "failed"
    assert "exit" in job["reason"] and "3" in job["reason"], job["reason"]
    assert "restarted 2 times" in job["reason"]
    failed = [i for i in job["instances"] if i["state"] == "FAILED"]
    assert len(failed) == 3  # the first run and 2 restarts
    assert {i["exit_code"] for i in failed} == {3}
    assert job["restarts"] == 2
    assert "about to fail" in job["reason"]  # the last lines of its log
    # Its output, read by the agent from Docker, through the master and the framework:
    with urllib.request.urlopen(f"http://{base}/v1/jobs/three/logs?stream=stderr",
                                timeout=60) as resp:
        assert resp.read() == b"about to fail\n"
    cli = subprocess.run([sys.executable, "-m", "cli", "job", "logs", "three", "--stream",
                          "stderr", "--instance", failed[0]["id"], "--url", f"http://{base}"],
                         capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)
    assert cli.returncode == 0 and cli.stdout == "about to fail\n", cli.stderr


def test_kill_9_mid_batch_then_restart_finishes_without_rerunning_a_success(berth_up):
    base, launch, _cwd, _started = berth_up
    proc = launch()
    status, job = _api(base, "POST", "/v1/jobs", _batch(
        "survivor", 8, "sleep 1; echo done $BERTH_JOB_INDEX", parallelism=2))
    assert status == 201, job

    def some_done():
        _, job = _api(base, "GET", "/v1/jobs/survivor")
        return job if 2 <= job["succeeded"] < 8 else None

    before = _poll(some_done, "a few indexes to succeed")
    done_before = set(_finished_indexes(before))
    [registry] = [p for p in psutil.Process(proc.pid).children()
                  if p.name() == "docker-registry"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # Its registry goes with it (else it would hold the port of the next `berth up`).
    _poll(lambda: not registry.is_running() or registry.status() == psutil.STATUS_ZOMBIE,
          "the killed berth's registry to end")

    launch()  # same data dir
    job = _wait(base, "survivor")
    assert job["phase"] == "complete", job["reason"]
    finished = _finished_indexes(job)
    assert finished == Counter(range(8))  # every index once: none that had succeeded again
    assert done_before <= set(finished)
