"""The simulator runs the agent's elasticity and the framework's autoscaler: a node whose
own load rises lowers its secondary task's limits, then preempts it, and the job
relaunches it elsewhere; an autoscaled service grows with its load and shrinks after it;
the report counts both; the same seed gives the same run."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.sim import sim_command
from offers.cluster import NodeSpec
from offers.job import parse_job
from simulator.inputs import IncumbentStep, JobItem, parse_work_item
from simulator.report import TIMING_KEY, summarize, write_report
from simulator.run import SimConfig, SimResult, Simulation


def two_nodes() -> list[NodeSpec]:
    return [NodeSpec(hostname=f"n{i}", cpus=4, mem=4096, disk=1000) for i in range(2)]


def service(name: str, count: int = 1, **extra) -> dict:
    return {"name": name, "type": "service", "count": count,
            "task": {"dockerimage": "busybox", "cpus": 2, "mem": 2048}, **extra}


# n1 is busy with its own programs at first, so the service starts on n0; at t=100 n1 is
# idle and n0's own load takes 3 of its 4 cpus; at t=200 it wants (nearly) all of n0.
RISING = (IncumbentStep(0, "n1", 3.5, 0), IncumbentStep(100, "n1", 0, 0),
          IncumbentStep(100, "n0", 3, 1000), IncumbentStep(200, "n0", 3.995, 3500))


def rising_load_run(**config) -> SimResult:
    job = JobItem(parse_job(service("web")), 5, None, 0.0, (1.0, 1024.0))
    return Simulation(two_nodes(), [job], SimConfig(horizon=600, elastic=True,
                                                    incumbent_steps=RISING, **config)).run()


def instances(result: SimResult) -> list:
    return sorted(result.scheduler.tasks(), key=lambda r: r.created_at)


def test_rising_incumbent_load_lowers_limits_then_preempts_and_the_job_relaunches_it():
    result = rising_load_run()
    first, second = instances(result)
    assert first.hostname == "n0" and first.state.value == "LOST"
    assert first.reason.startswith("preempted: node's own load needs")
    assert second.hostname == "n1" and second.state.value == "RUNNING"

    elastic = summarize(result)["elasticity"]
    # 101..201 s: its cpus lowered to what n0's own programs left (1 of 2), then ended
    assert elastic["decisions_by_grade"]["cpu"] >= 1
    assert elastic["lowered_task_seconds"] == 100.0
    assert elastic["preemptions"] == 1 and elastic["relaunched"] == 1
    # it used 1 cpu (below its lowered limit) until preempted, then 1 cpu on n1
    assert elastic["secondary_cpu_seconds"] > 500
    # short only in the period between the load's rise and the agent's answer
    assert 0 < elastic["incumbent_short_node_seconds"] <= 1.0
    assert "preempted" in elastic["preemption_examples"][0]


def test_the_master_hears_the_lowered_limits_and_offers_what_was_taken_back():
    job = JobItem(parse_job(service("web")), 5, None, 0.0, (1.0, 1024.0))
    steps = RISING[:3]  # only the first rise: limits lowered, no preemption
    result = Simulation(two_nodes(), [job], SimConfig(horizon=150, elastic=True,
                                                      incumbent_steps=steps)).run()
    (record,) = instances(result)
    assert result.master.limits[record.task_id] == (1.0, 2048.0)
    agent = result.master.agents[result.nodes.agent_ids[0]]
    assert agent.revocable.cpus == 1.0  # 2 asked, 1 given: 1 offered as revocable
    assert agent.elastic["taken_back"].cpus == 1.0


def test_elastic_runs_with_the_same_seed_are_the_same():
    def run() -> dict:
        summary = summarize(rising_load_run(seed=7))
        summary.pop(TIMING_KEY)
        return summary

    assert run() == run()


def test_synthetic_elastic_run_is_deterministic_and_checked(tmp_path):
    args = ["--nodes", "20", "--synthetic", "--tasks", "300", "--duration", "7200",
            "--seed", "3", "--incumbent-load", "0.5", "--elastic"]
    outs = []
    for i in range(2):
        result = CliRunner().invoke(sim_command, [*args, "--report", str(tmp_path / f"r{i}")])
        assert result.exit_code == 0, result.output
        summary = json.loads((tmp_path / f"r{i}" / "summary.json").read_text())
        summary.pop(TIMING_KEY)
        outs.append(summary)
    assert outs[0] == outs[1]
    assert outs[0]["elasticity"]["resizes"] >= 1
    assert outs[0]["sla_violations"] == 0 and outs[0]["invalid_launches"] == 0
    assert "## Elasticity" in (tmp_path / "r0" / "report.md").read_text()


LOAD_CURVE = [[0, 0.5], [200, 3.0], [800, 0.5]]  # the service's total cpus over time


def autoscaled(**extra) -> JobItem:
    rule = {"node": "target", "value": 0.8, "tolerance": 0.1,
            "of": {"node": "metric", "name": "cpu", "window": 30}}
    spec = service("web", count=1, autoscale={
        "min": 1, "max": 4, "interval": 30, "rule": rule,
        "scale_down": {"stabilization": 60}})
    spec["task"] = {"dockerimage": "busybox", "cpus": 1, "mem": 256}
    return parse_work_item({"job": spec, "submit_at": 0, "metrics": {"cpu": LOAD_CURVE},
                            **extra})


def test_an_autoscaled_service_grows_with_its_load_and_shrinks_after_it(tmp_path):
    nodes = [NodeSpec(hostname=f"n{i}", cpus=4, mem=4096, disk=1000) for i in range(2)]
    result = Simulation(nodes, [autoscaled()], SimConfig(horizon=1500)).run()
    report = summarize(result)["autoscaling"]["web"]
    assert report["max_count"] == 4 and report["min_count"] == 1
    assert report["scale_ups"] >= 1 and report["scale_downs"] >= 1
    ups = [c for c in report["changed"] if c["to"] > c["from"]]
    assert 200 <= ups[0]["at"] < 300 and "cpu" in ups[0]["reason"]
    downs = [c for c in report["changed"] if c["to"] < c["from"]]
    assert downs[-1]["at"] > 800 and downs[-1]["to"] == 1
    assert result.scheduler.job("web").desired() == 1
    write_report(result, tmp_path)
    assert "## Autoscaling" in (tmp_path / "report.md").read_text()


def test_a_workload_file_sets_node_load_and_job_metrics(tmp_path):
    lines = [{"at": 0, "node": "n1", "incumbent": {"cpus": 3.5, "mem": 0}},
             {"job": service("web"), "submit_at": 5, "used": {"cpus": 1, "mem": 1024}},
             {"at": 100, "node": "n0", "incumbent": {"cpus": 3.995, "mem": 3500}},
             {"at": 100, "node": "n1", "incumbent": {"cpus": 0, "mem": 0}}]
    workload = tmp_path / "w.jsonl"
    workload.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cluster = tmp_path / "c.json"
    cluster.write_text(json.dumps([{"hostname": f"n{i}", "cpus": 4, "mem": 4096,
                                    "disk": 1000} for i in range(2)]))
    result = CliRunner().invoke(sim_command, [
        "--cluster", str(cluster), "--workload", str(workload), "--duration", "300",
        "--elastic", "--report", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["elasticity"]["preemptions"] == 1
    assert summary["elasticity"]["relaunched"] == 1


def test_a_load_line_naming_an_unknown_node_or_a_bad_metric_name_is_refused(tmp_path):
    workload = tmp_path / "w.jsonl"
    workload.write_text(json.dumps({"at": 0, "node": "nowhere",
                                    "incumbent": {"cpus": 1, "mem": 0}}) + "\n"
                        + json.dumps({"job": service("web"), "metrics": {"bad name": [[0, 1]]}})
                        + "\n")
    result = CliRunner().invoke(sim_command, [
        "--nodes", "2", "--workload", str(workload), "--report", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "metrics" in result.output
    workload.write_text(json.dumps({"at": 0, "node": "nowhere",
                                    "incumbent": {"cpus": 1, "mem": 0}}) + "\n")
    result = CliRunner().invoke(sim_command, [
        "--nodes", "2", "--workload", str(workload), "--report", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nowhere" in result.output and not (tmp_path / "out").exists()


def test_the_example_workload_yields_relaunches_and_scales_web_up_and_back(tmp_path):
    """README's example: the nodes' own load rises, then takes nearly all of analytics-1."""
    from pathlib import Path

    from simulator.inputs import read_cluster, read_workload

    root = Path(__file__).resolve().parent.parent / "examples"
    result = Simulation(read_cluster(root / "cluster.json"),
                        read_workload(root / "elastic-workload.jsonl"),
                        SimConfig(horizon=3600, elastic=True)).run()
    summary = summarize(result)
    elastic, web = summary["elasticity"], summary["autoscaling"]["web"]
    assert elastic["preemptions"] > 0 and elastic["relaunched"] == elastic["preemptions"]
    assert elastic["lowered_task_seconds"] > 0 and summary["sla_violations"] == 0
    assert web["max_count"] == 6 and web["changed"][-1]["to"] == 1
    # never more held than the nodes have
    assert (result.nodes.allocated <= result.nodes.total + 1e-6).all()
