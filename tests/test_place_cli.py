"""`berth place` over files: output lines, the summary, and bad files refused whole."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLUSTER = [
    {"hostname": "lab-1", "cpus": 2, "mem": 1024, "disk": 1000, "ports": "31000-32000",
     "attributes": {"nodetype": "lab"}},
    {"hostname": "ana-1", "cpus": 4, "mem": 4096, "attributes": {"nodetype": "analytics"}},
]
TASKS = [
    {"id": "stress60", "dockerimage": "stress", "mem": "100", "reshuffleable": True,
     "nodetype": "lab", "arguments": ["--vm-bytes", "60M", "--vm", "1"]},
    {"id": "cadvisor", "dockerimage": "cadvisor", "mem": "50", "sla": "one-per-node",
     "ports": [{"host_port": "31500", "container_port": "8080"}]},
    {"id": "huge", "dockerimage": "x", "mem": 9000},
]


def berth(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def write(tmp_path, cluster=CLUSTER, tasks=TASKS):
    (tmp_path / "c.json").write_text(json.dumps(cluster, indent=2))
    (tmp_path / "t.jsonl").write_text("".join(
        (t if isinstance(t, str) else json.dumps(t)) + "\n" for t in tasks))


def test_place_writes_one_line_per_instance_and_prints_a_summary(tmp_path):
    write(tmp_path)
    run = berth("place", "--cluster", "c.json", "--tasks", "t.jsonl", "--out", "p.jsonl",
                cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["placed"] == 3 and summary["unplaced"] == 1
    assert summary["unplaced_by_reason"] == {"insufficient-mem": 1}
    assert summary["nodes_used"] == 2
    assert summary["seconds_core"] <= summary["seconds_total"]
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows[0] == {"task": "stress60", "instance": 0, "hostname": "lab-1", "reason": None}
    assert {(r["instance"], r["hostname"]) for r in rows if r["task"] == "cadvisor"} == {
        (0, "lab-1"), (1, "ana-1")}
    assert rows[-1]["hostname"] is None
    assert rows[-1]["reason"].startswith("needs 9000 MiB mem; the largest free")


@pytest.mark.parametrize(("tasks", "cluster", "expected"), [
    (TASKS[:1] + ['{"id": "x", "dockerimage": "y", "mem": -3}'], CLUSTER,
     "t.jsonl:2: mem: must be at least 4 MiB"),
    (TASKS[:2] + ['{"id": "x", "dockerimage": "y"'], CLUSTER, "t.jsonl:3: not valid JSON"),
    (TASKS[:1] + ['{"id": "x", "dockerimage": "y", "networkmode": "host", '
                  '"ports": [{"host_port": 1, "container_port": 2}]}'], CLUSTER,
     "t.jsonl:2: ports: host port mappings need networkmode 'bridge'"),
    (TASKS, CLUSTER + [{"hostname": "bad", "cpus": "lots", "mem": 1}],
     "c.json:20: [2].cpus: Input should be a valid number"),
    (TASKS, CLUSTER + [{"hostname": "lab-1", "cpus": 1, "mem": 1}],
     "c.json:20: [2].hostname: 'lab-1' is already node [0]"),
    (TASKS, CLUSTER[:1] + [{"hostname": "p", "cpus": 1, "mem": 1, "ports": "70000"}],
     "c.json:12: [1].ports: port range 70000-70000 must lie within 1-65535"),
])
def test_a_bad_line_is_reported_with_file_line_field_and_nothing_is_written(
        tmp_path, tasks, cluster, expected):
    write(tmp_path, cluster=cluster, tasks=tasks)
    run = berth("place", "--cluster", "c.json", "--tasks", "t.jsonl", "--out", "p.jsonl",
                cwd=tmp_path)
    assert run.returncode != 0
    assert expected in run.stderr, run.stderr
    assert not (tmp_path / "p.jsonl").exists()
    assert list(tmp_path.glob(".p.jsonl*")) == []


def test_without_out_placements_go_to_stdout_and_the_summary_to_stderr(tmp_path):
    write(tmp_path)
    run = berth("place", "--cluster", "c.json", "--tasks", "t.jsonl", "--strategy", "spread",
                cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == 4
    assert json.loads(run.stderr.strip().splitlines()[-1])["strategy"] == "spread"
