"""`berth up` with its data dir on a disk that fills up while a singleton runs and its
container is killed out of band: the issue's full-disk sequence, for real.

What must hold: while the disk is full, writes answer 503 and reads keep working; the
killed container ends FAILED with its exit code once the disk has room (never LOST:
the agent reports the end it saw when it registers again); the singleton is relaunched
once, not in a storm of LOST copies.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.small_disk import fill, free, mounted_tmpfs
from tests.test_framework_seed_session import _curl, _poll, berth_up, docker_client

__all__ = ["berth_up", "docker_client"]  # the fixtures

SINGLETON = {"id": "disk-single", "dockerimage": "stress", "mem": "32", "cpus": "0.1",
             "sla": "singleton", "nodetype": "lab",
             "arguments": ["--vm", "1", "--vm-bytes", "4M"]}
FULL_FOR_SECONDS = 20.0  # past the 15 s agent timeout: the agent link breaks and comes back


@pytest.fixture
def data_disk(tmp_path):
    """berth up's data dir on a small tmpfs; set up before `berth_up`, so unmounted after
    berth up has stopped."""
    with mounted_tmpfs(tmp_path / "data", size="16m") as disk:
        yield disk


def test_a_full_disk_leaves_no_false_lost_and_no_relaunch_storm(data_disk, berth_up,
                                                                 docker_client):
    base, launch, cwd, started = berth_up
    disk = data_disk
    (cwd / "single.json").write_text(json.dumps(SINGLETON))
    launch()

    def tasks() -> list[dict]:
        return [t for t in json.loads(_curl("-s", f"{base}/client/task", cwd=cwd))
                if t["id"] == SINGLETON["id"]]

    def running() -> list[dict]:
        return [t for t in tasks() if t["state"] == "RUNNING"]

    answer = _curl("-s", "-X", "POST", "-T", "single.json", "-H",
                   "Content-Type: application/json", f"{base}/client/task", cwd=cwd)
    assert answer == '{"code":202,"message":"Run task: disk-single"}'
    [first] = _poll(running, "the singleton RUNNING", cwd / "berth-up.log")
    [container] = docker_client.containers.list(
        filters={"label": f"berth.task_id={first['internal_id']}"})
    started.append(container.id)

    fill(disk)
    try:
        status = _curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-T",
                       "single.json", "-H", "Content-Type: application/json",
                       f"{base}/client/task", cwd=cwd)
        assert status == "503"  # a write, refused while nothing can be written
        container.kill()  # out of band, while the master cannot record the end
        deadline = time.monotonic() + FULL_FOR_SECONDS
        while time.monotonic() < deadline:  # reads keep working all along
            assert [t["internal_id"] for t in tasks()][:1] == [first["internal_id"]]
            time.sleep(0.5)  # ok: pacing reads over a window, not a timing assertion
    finally:
        free(disk)

    def relaunched() -> list[dict]:
        ended = [t for t in tasks() if t["internal_id"] == first["internal_id"]
                 and t["state"] == "FAILED"]
        return ended and [t for t in running() if t["internal_id"] != first["internal_id"]]

    [second] = _poll(relaunched, "the killed container FAILED and the singleton back",
                     cwd / "berth-up.log")
    for c in docker_client.containers.list(
            filters={"label": f"berth.task_id={second['internal_id']}"}):
        started.append(c.id)
    instances = tasks()
    [old] = [t for t in instances if t["internal_id"] == first["internal_id"]]
    assert "137" in old["reason"], old["reason"]  # SIGKILL's exit status, as Docker says
    assert not [t for t in instances if t["state"] == "LOST"], instances
    assert len(instances) == 2, instances  # one relaunch, no storm
