"""`berth bench jobs` at tiny sizes: the JSON it prints, and that its rounds really end and
restart instances through the scheduler (no timing is checked)."""

import json

from click.testing import CliRunner

from benchmarks import jobs as bench
from cli import main
from offers.states import TaskState


def test_prints_one_json_document_per_size_with_the_ratio():
    result = CliRunner().invoke(main, ["bench", "jobs", "--sizes", "4,8", "--rounds", "2",
                                       "--events", "10", "--agents", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    doc = json.loads(result.output)
    assert doc["benchmark"] == "jobs"
    assert [s["jobs"] for s in doc["sizes"]] == [4, 8]
    assert doc["ratio_of"] == [4, 8]
    for size in doc["sizes"]:
        assert size["instances"] == size["jobs"] * 10
        assert size["agents"] == 2
        assert size["events_per_round"] > 0
        assert size["per_event_us"] > 0 and size["per_event_cpu_us"] >= 0
        assert set(size["by_kind_us"]) == set(size["by_kind_cpu_us"]) == {
            "failed", "finished", "running"}
    assert isinstance(doc["ratio_cpu"], float) and isinstance(doc["ratio_wall"], float)
    assert doc["within_target"] == (doc["ratio_cpu"] <= doc["target_ratio"] == 1.5)


def test_a_round_ends_instances_and_every_index_is_running_again_or_done():
    cluster = bench.build(jobs=6, agents=2, seed=1)
    before = {t.task_id for t in cluster.scheduler.tasks()}
    sample = bench.one_round(cluster, events=8)

    assert sample["failed"][0] == 4 and sample["finished"][0] == 4
    ended = [t for t in cluster.scheduler.tasks() if t.task_id in before and t.state.terminal]
    assert sorted(str(t.state) for t in ended) == ["FAILED"] * 4 + ["FINISHED"] * 4
    # Restarts (and fresh batch jobs for completed ones) were launched and report RUNNING;
    # only a batch index that exited 0 stays down.
    assert sample["running"][0] >= 4
    wanted = [j for j in cluster.scheduler.jobs() if not j.phase.final]
    assert len(wanted) == 6
    done = 0
    for job in wanted:
        running = len(job.by_state.get(TaskState.RUNNING, ()))
        finished = sum(slot.done for slot in job.slots.values())
        assert running + finished == 10, job.id
        done += finished
    assert done <= 4


def test_bad_sizes_are_refused():
    result = CliRunner().invoke(main, ["bench", "jobs", "--sizes", "ten"])
    assert result.exit_code == 2
    assert "--sizes" in result.output
