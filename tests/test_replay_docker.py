"""`berth sim --replay-from` on what a real `berth up` recorded: a batch job of three
`sleep` containers on the local Docker engine, replayed from the SQLite store it wrote,
with its submissions, durations and its one agent."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from cli import main
from simulator.traces.berth_history import read
from tests.test_framework_seed_session import berth_up, docker_client
from tests.test_jobs_docker import _api, _batch, _wait

__all__ = ["berth_up", "docker_client"]  # the fixtures

pytestmark = pytest.mark.docker


def test_a_recorded_berth_up_session_replays_its_submissions_and_durations(berth_up):
    base, launch, cwd, _started = berth_up
    launch()
    since = time.time() - 1
    status, job = _api(base, "POST", "/v1/jobs", _batch(
        "sleeps", 3, "sleep $((BERTH_JOB_INDEX * 2 + 1))", parallelism=3))
    assert status == 201, job
    job = _wait(base, "sleeps")
    assert job["phase"] == "complete", job["reason"]
    ran = {i["id"]: i for i in job["instances"] if i["state"] == "FINISHED"}
    assert len(ran) == 3
    until = time.time() + 1
    url = f"sqlite:///{cwd / 'data' / 'berth.db'}"

    replay = read(url, since, until)
    items = {i.spec.id: i for i in replay.trace.workload}
    assert sorted(items) == sorted(ran)
    for task_id, instance in ran.items():
        item = items[task_id]
        assert item.submit_at == pytest.approx(instance["created_at"] - since)
        assert 0 < item.duration <= instance["updated_at"] - instance["created_at"] + 1e-6
        assert item.spec.dockerimage == "berth/busybox" and item.spec.cpus == 0.05
    by_index = sorted(ran.values(), key=lambda i: i["index"])
    durations = [items[i["id"]].duration for i in by_index]
    assert durations == sorted(durations)  # sleep 1, 3 and 5 s
    [node] = replay.trace.nodes
    assert node.hostname == ran[by_index[0]["id"]]["host"] and node.cpus > 0

    # a window of a minute, offers every second: the simulated agents offer often
    # enough for seconds-long tasks to run in it
    out = cwd / "replayed"
    result = CliRunner().invoke(main, ["sim", "--replay-from", url, "--since", str(since),
                                       "--until", str(since + 60), "--strategy", "spread",
                                       "--offer-interval", "1", "--report", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workload_tasks"] == 3 and summary["tasks"]["finished"] == 3
    assert summary["pending_time_s"]["count"] == 3
