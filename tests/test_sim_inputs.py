"""Workload and cluster files: good lines load, bad lines are named by file, line and field,
and `berth sim` then writes no report at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from offers.problems import SpecError
from simulator.inputs import InputError, read_cluster, read_workload
from simulator.nodes import parse_node_shape


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


GOOD = {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
        "submit_at": 5, "duration": 60, "used": {"cpus": 0.05, "mem": 60}}


def test_a_workload_line_is_a_charmander_task_plus_timing(tmp_path):
    path = write_lines(tmp_path / "w.jsonl", [
        GOOD, {"id": "early", "dockerimage": "x", "submit_at": 1}, ""])
    items = read_workload(path)
    assert [i.spec.id for i in items] == ["early", "stress60"]  # in submission order
    assert items[1].spec.mem == 100 and items[1].spec.reshuffleable
    assert (items[1].submit_at, items[1].duration, items[1].used) == (5, 60, (0.05, 60))
    assert items[0].duration is None and items[0].used is None


def test_bad_workload_lines_name_file_line_and_field(tmp_path):
    path = write_lines(tmp_path / "w.jsonl", [
        GOOD,
        {**GOOD, "id": "b", "duration": -3},
        {**GOOD, "id": "c", "cpus": "lots"},
        "{not json",
        {**GOOD, "id": "stress60"},
        {**GOOD, "id": "e", "used": {"cpus": 1}},
    ])
    with pytest.raises(InputError) as info:
        read_workload(path)
    found = {(line, p.field) for line, p in info.value.problems}
    assert {(2, "duration"), (3, "cpus"), (4, ""), (5, "id"), (6, "used.mem")} <= found
    assert f"{path}:2: duration:" in str(info.value)


def test_cluster_file_errors_point_at_the_node_line(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('[\n {"hostname": "a", "cpus": 4, "mem": 4096},\n'
                    ' {"hostname": "b", "cpus": -1, "mem": 4096},\n'
                    ' {"hostname": "a", "cpus": 4, "mem": 1}\n]\n')
    with pytest.raises(InputError) as info:
        read_cluster(path)
    assert {(line, p.field) for line, p in info.value.problems} == {(3, "[1].cpus"),
                                                                    (4, "[2].hostname")}


def test_node_shape_is_parsed_and_checked():
    assert parse_node_shape("cpus:8,mem:1024")["cpus"] == 8.0
    with pytest.raises(SpecError):
        parse_node_shape("gpus:2")
    with pytest.raises(SpecError):
        parse_node_shape("cpus:-2")


def test_sim_with_a_bad_workload_exits_nonzero_and_writes_no_report(tmp_path):
    workload = write_lines(tmp_path / "w.jsonl", [GOOD, {**GOOD, "id": "x", "mem": "-5"}])
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["sim", "--nodes", "2", "--workload", str(workload),
                                       "--report", str(report)])
    assert result.exit_code != 0
    assert f"{workload}:2: mem:" in result.output
    assert not report.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["w.jsonl"]


def test_sim_writes_a_full_report(tmp_path):
    cluster = tmp_path / "c.json"
    cluster.write_text(json.dumps([{"hostname": f"n{i}", "cpus": 4, "mem": 8192,
                                    "attributes": {"nodetype": "lab"}} for i in range(3)]))
    workload = write_lines(tmp_path / "w.jsonl", [
        {"id": f"t{k}", "dockerimage": "x", "cpus": 1, "mem": 512, "submit_at": 10 * k,
         "duration": 300} for k in range(12)])
    report = tmp_path / "out"
    result = CliRunner().invoke(main, ["sim", "--cluster", str(cluster), "--workload",
                                       str(workload), "--duration", "3600",
                                       "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in report.iterdir()) == [
        "intervals.csv", "packing.png", "pending.png", "report.md", "summary.json",
        "utilization.png"]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["sla_violations"] == 0
    assert summary["tasks"]["finished"] == 12
    assert summary["pending_time_s"]["count"] == 12
    assert (report / "intervals.csv").read_text().startswith("time,nodes_up,")


def test_compare_runs_each_strategy_on_the_same_workload(tmp_path):
    report = tmp_path / "cmp"
    result = CliRunner().invoke(main, ["sim", "--nodes", "6", "--synthetic", "--tasks", "150",
                                       "--duration", "7200", "--seed", "4", "--compare",
                                       "binpack,spread,intelligence", "--report",
                                       str(report)])
    assert result.exit_code == 0, result.output
    table = (report / "report.md").read_text()
    assert "| binpack | spread | intelligence |" in table
    compare = json.loads((report / "compare.json").read_text())
    assert set(compare) == {"binpack", "spread", "intelligence"}
    assert len({c["submitted"] for c in compare.values()}) == 1
    for name in compare:
        assert (report / name / "summary.json").exists()
    for plot in ("nodes_used.png", "packing.png"):  # one line per strategy
        assert (report / plot).read_bytes()[:4] == b"\x89PNG"
    assert "packing efficiency cpus (mean)" in table
