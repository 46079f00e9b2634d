"""The simulator runs jobs: workload lines that submit a job, whose instances run a duration
and fail at a seeded rate, and the per-job results in the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from offers.cluster import NodeSpec
from simulator.inputs import InputError, read_workload
from simulator.report import TIMING_KEY, summarize
from simulator.run import SimConfig, Simulation

# Offers every 10 s; a declined node is offered again by the next cycle (refuse 5 s < 10 s),
# so an instance that could start waits at most one offer interval.
OFFER_INTERVAL, REFUSE = 10.0, 5.0


def nodes(n: int = 2) -> list[NodeSpec]:
    return [NodeSpec(hostname=f"n{i}", cpus=4, mem=4096, disk=1000) for i in range(n)]


def job_line(name: str, kind: str = "batch", *, submit_at: float = 0, duration=None,
             fail_rate=None, **fields) -> dict:
    line = {"submit_at": submit_at,
            "job": {"name": name, "type": kind,
                    "task": {"dockerimage": "berth/sim", "cpus": 1, "mem": 256}, **fields}}
    if duration is not None:
        line["duration"] = duration
    if fail_rate is not None:
        line["fail_rate"] = fail_rate
    return line


def write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


def simulate(tmp_path: Path, lines: list, *, horizon: float, seed: int = 0,
             cluster: list[NodeSpec] | None = None) -> dict:
    workload = read_workload(write(tmp_path / "jobs.jsonl", lines))
    result = Simulation(cluster or nodes(), workload,
                        SimConfig(horizon=horizon, seed=seed, offer_interval=OFFER_INTERVAL,
                                  refuse_seconds=REFUSE)).run()
    summary = summarize(result)
    assert summary["sla_violations"] == 0, summary["sla_violation_examples"]
    assert summary["invalid_launches"] == 0
    summary["_result"] = result
    return summary


def per_job(summary: dict) -> dict[str, dict]:
    return {row["name"]: row for row in summary["jobs"]["per_job"]}


def test_a_batch_completes_with_exactly_its_completions_in_waves_of_parallelism(tmp_path):
    completions, parallelism, duration = 20, 5, 100.0
    summary = simulate(tmp_path, [job_line("b", submit_at=5, duration=duration,
                                           completions=completions, parallelism=parallelism)],
                       horizon=3000)
    row = per_job(summary)["b"]
    assert row["type"] == "batch" and row["phase"] == "complete"
    assert row["succeeded"] == completions and row["failed"] == 0
    assert row["instances_started"] == completions  # no index ran twice
    # Simulated seconds on the virtual clock (deterministic, not this machine's speed):
    # each wave runs `duration`, and before each at most one offer interval passes.
    waves = math.ceil(completions / parallelism)
    earliest, latest = waves * duration, waves * (duration + OFFER_INTERVAL)
    assert earliest <= row["completion_s"] <= latest
    jobs = summary["jobs"]
    assert (jobs["complete"], jobs["failed"]) == (1, 0)
    assert jobs["makespan_s"]["p50"] == row["completion_s"]


def test_a_job_that_always_fails_fails_after_one_run_and_its_restart_attempts(tmp_path):
    summary = simulate(tmp_path, [job_line("flaky", duration=30, fail_rate=1.0,
                                           completions=1, restart={"attempts": 2, "delay": 5})],
                       horizon=1000)
    row = per_job(summary)["flaky"]
    assert row["phase"] == "failed"
    assert (row["instances_started"], row["failed"], row["succeeded"]) == (3, 3, 0)
    assert row["restarts"] == 2
    assert "exit code 1" in row["reason"]
    result = summary["_result"]
    records = result.scheduler.job_instances(result.scheduler.job("flaky"))
    assert [(str(r.state), r.exit_code) for r in records] == [("FAILED", 1)] * 3
    # Three runs of 30 s, with the restart delays (5 s, then 10 s) and offer waits between.
    assert 90 + 5 + 10 <= row["completion_s"] <= 90 + 5 + 10 + 3 * OFFER_INTERVAL


def test_restart_attempts_decide_whether_a_flaky_batch_completes(tmp_path):
    lines = [job_line(name, duration=60, fail_rate=0.2, completions=100, parallelism=10,
                      restart={"attempts": attempts, "delay": 5})
             for name, attempts in (("tolerant", 3), ("strict", 0))]
    rows = per_job(simulate(tmp_path, lines, horizon=20_000,
                            cluster=nodes(6)))  # room for both jobs' waves at once
    tolerant, strict = rows["tolerant"], rows["strict"]
    assert tolerant["phase"] == "complete" and tolerant["succeeded"] == 100
    assert tolerant["restarts"] == tolerant["failed"]  # every failure was run again
    assert 10 <= tolerant["restarts"] <= 40  # about a fifth of 100 runs, and their reruns
    assert tolerant["completion_s"] >= 10 * 60
    assert strict["phase"] == "failed" and strict["failed"] == 1 and strict["restarts"] == 0


def test_a_service_keeps_its_count_running_until_the_horizon(tmp_path):
    summary = simulate(tmp_path, [
        job_line("web", "service", count=3),  # runs until the end
        job_line("worker", "service", count=3, duration=100, fail_rate=0.5),
    ], horizon=180, cluster=nodes(3))
    rows = per_job(summary)
    web, worker = rows["web"], rows["worker"]
    assert web["phase"] == "running" and web["completion_s"] is None
    assert (web["running_at_end"], web["instances_started"], web["restarts"]) == (3, 3, 0)
    # Each worker instance ended once at t=100, whatever its exit code, and was restarted.
    assert worker["phase"] == "running" and worker["running_at_end"] == 3
    assert worker["succeeded"] + worker["failed"] == 3
    assert worker["restarts"] == 3 and worker["instances_started"] == 6


def test_a_system_job_runs_once_on_every_node(tmp_path):
    summary = simulate(tmp_path, [job_line("monitor", "system"),
                                  job_line("filler", "service", count=4)],
                       horizon=300, cluster=nodes(3))
    row = per_job(summary)["monitor"]
    result = summary["_result"]
    hosts = sorted(result.nodes.hostnames[i.node] for i in result.agents.instances.values()
                   if i.state.job is not None and i.state.job.item.name == "monitor")
    assert hosts == ["n0", "n1", "n2"]
    assert row["instances_started"] == 3  # never a second copy on a node, then killed


def test_the_same_seed_gives_the_same_report_and_another_seed_another(tmp_path):
    lines = [job_line("b", duration=60, fail_rate=0.3, completions=30, parallelism=6),
             job_line("s", "service", count=2, duration=90, fail_rate=0.3, submit_at=20)]

    def report(seed: int) -> dict:
        summary = simulate(tmp_path, lines, horizon=2000, seed=seed)
        del summary["_result"], summary[TIMING_KEY]
        return summary

    first = report(1)
    assert first == report(1)
    assert first["jobs"] != report(2)["jobs"]


def test_bad_job_lines_are_named_by_line_and_field(tmp_path):
    path = write(tmp_path / "w.jsonl", [
        job_line("ok", duration=10),
        job_line("zero", completions=0),
        {**job_line("typo"), "fail_rat": 0.1},
        job_line("rate", fail_rate=1.5),
        job_line("ok"),
        job_line("par", "parallel", count=2),
        {"submit_at": 0, "job": ["not", "an", "object"]},
        job_line("neg", duration=-1),
    ])
    with pytest.raises(InputError) as info:
        read_workload(path)
    found = {(line, p.field) for line, p in info.value.problems}
    assert {(2, "job.completions"), (3, "fail_rat"), (4, "fail_rate"), (5, "job.name"),
            (6, "job.master"), (7, "job"), (8, "duration")} <= found
    assert not any(line == 1 for line, _ in info.value.problems)

    cluster = tmp_path / "c.json"
    cluster.write_text(json.dumps([{"hostname": "n0", "cpus": 4, "mem": 4096}]))
    run = CliRunner().invoke(main, ["sim", "--cluster", str(cluster), "--workload", str(path),
                                    "--report", str(tmp_path / "r")])
    assert run.exit_code == 2
    assert f"{path}:2: job.completions:" in run.output
    assert not (tmp_path / "r").exists()


def test_the_example_jobs_workload_runs_and_reports_per_job(tmp_path):
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "report"
    run = CliRunner().invoke(main, [
        "sim", "--cluster", str(root / "examples/cluster.json"),
        "--workload", str(root / "examples/jobs-workload.jsonl"), "--duration", "3600",
        "--report", str(out)])
    assert run.exit_code == 0, run.output
    jobs = json.loads((out / "summary.json").read_text())["jobs"]
    phases = {row["name"]: row["phase"] for row in jobs["per_job"]}
    assert phases == {"render": "complete", "render-strict": "failed", "web": "running",
                      "monitor": "running"}
    assert "## Jobs" in (out / "report.md").read_text()
