"""`berth bench sim` at tiny sizes: the JSON it prints, each size run in a process of its
own with its own peak memory (no timing is checked)."""

import json

from click.testing import CliRunner

from benchmarks.sim import run_one
from cli import main


def test_each_size_reports_its_own_run_and_peak_memory():
    result = CliRunner().invoke(main, ["bench", "sim", "--sizes", "10x60,20x120",
                                       "--duration", "900", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [(r["nodes"], r["tasks"]) for r in doc["runs"]] == [(10, 60), (20, 120)]
    assert doc["baseline"] == doc["runs"][0] and doc["baseline"]["cost_ratio"] == 1.0
    for r in doc["runs"]:
        # A whole interpreter with numpy loaded, but not the test runner's memory.
        assert 20 < r["peak_rss_mib"] < 2048
        assert r["invalid_launches"] == 0 and r["events"] > r["tasks"]
    # The run in its own process is the same simulation as one in this process.
    here = run_one(10, 60, 900.0, 0)
    assert doc["runs"][0]["events"] == here["events"]


def test_a_size_that_is_not_nodes_x_tasks_is_refused():
    result = CliRunner().invoke(main, ["bench", "sim", "--sizes", "10x", "--json"])
    assert result.exit_code == 2
    assert "--sizes" in result.output
