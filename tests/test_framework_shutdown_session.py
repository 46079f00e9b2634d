"""SIGTERM of `berth up` then a restart on the same data dir: the singleton runs again.

Real everything, as in the seed session: `berth up` as a subprocess, SQLite, the local
Docker engine running the local `stress` image, `curl` as the client.
"""

from __future__ import annotations

import json
import signal

from framework.records import STOPPED_BY_SHUTDOWN
from tests.test_framework_seed_session import _curl, _poll, berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

SINGLETON = {"id": "single", "dockerimage": "stress", "mem": "64", "cpus": "0.1",
             "sla": "singleton", "nodetype": "lab",
             "arguments": ["--vm", "1", "--vm-bytes", "8M"]}


def test_sigterm_then_restart_brings_the_singleton_back(berth_up, docker_client):
    base, launch, cwd, started = berth_up
    (cwd / "single.json").write_text(json.dumps(SINGLETON))
    proc = launch()
    answer = _curl("-s", "-X", "POST", "-T", "single.json", "-H",
                   "Content-Type: application/json", f"{base}/client/task", cwd=cwd)
    assert answer == '{"code":202,"message":"Run task: single"}'

    def tasks():
        return json.loads(_curl("-s", f"{base}/client/task", cwd=cwd))

    def running():
        return [t for t in tasks() if t["id"] == "single" and t["state"] == "RUNNING"]

    [first] = _poll(running, "the singleton RUNNING", cwd / "berth-up.log")
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={first['internal_id']}"})
    started.append(container.id)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not docker_client.containers.list(
        filters={"label": f"berth.task_id={first['internal_id']}"})  # stopped, as before

    launch()  # same data dir
    [second] = _poll(running, "the singleton RUNNING again", cwd / "berth-up.log")
    assert second["internal_id"] != first["internal_id"]
    for c in docker_client.containers.list(
            filters={"label": f"berth.task_id={second['internal_id']}"}):
        started.append(c.id)
    [old] = [t for t in tasks() if t["internal_id"] == first["internal_id"]]
    assert old["state"] in ("KILLED", "FAILED") and old["reason"] == STOPPED_BY_SHUTDOWN
