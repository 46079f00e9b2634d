"""Tuning sweeps: every combination run on the same workload, the Pareto front, the
recommendation rule, the comparison plots and bad `--sweep` input."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from offers.cluster import NodeSpec
from offers.task import parse_task
from simulator.inputs import WorkItem
from simulator.pareto import Outcome, dominates, pareto_front, recommend
from simulator.report import TIMING_KEY, summarize
from simulator.run import SimConfig, Simulation
from simulator.sweep import SweepRun, run_sweep
from simulator.sweep_params import combinations, parse_sweeps
from simulator.sweep_report import PLOTS, analyse, write_sweep

HORIZON = 1800.0


def cluster() -> list[NodeSpec]:
    return [NodeSpec(hostname=f"n{i}", cpus=4, mem=8192, disk=10000) for i in range(8)]


def workload() -> list[WorkItem]:
    """Eight 1-cpu tasks at once: binpack fills two nodes, spread takes all eight."""
    return [WorkItem(parse_task({"id": f"t{k}", "dockerimage": "x", "cpus": 1, "mem": 512}),
                     0.0, 1200.0, (0.5, 256.0)) for k in range(8)]


def without_timing(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != TIMING_KEY}


@pytest.fixture(scope="module")
def sweep():
    grid = parse_sweeps(["strategy=binpack,spread", "refuse_seconds=5,60"])
    combos = combinations(grid, SimConfig(horizon=HORIZON))
    return grid, combos, run_sweep(cluster(), workload(), combos, jobs=2)


def test_a_2x2_sweep_runs_every_combination_as_a_single_run_would(sweep):
    _, combos, runs = sweep
    assert [r.settings for r in runs] == [
        {"strategy": "binpack", "refuse_seconds": 5.0},
        {"strategy": "binpack", "refuse_seconds": 60.0},
        {"strategy": "spread", "refuse_seconds": 5.0},
        {"strategy": "spread", "refuse_seconds": 60.0}]
    for run, (_, config) in zip(runs, combos, strict=True):
        single = summarize(Simulation(cluster(), workload(), config).run())
        assert without_timing(run.summary) == without_timing(single)


def test_binpack_uses_fewer_nodes_and_packs_them_fuller_than_spread(sweep):
    _, _, runs = sweep
    binpack, spread = runs[0], runs[2]
    assert binpack.series["nodes_used"].max() == 2
    assert spread.series["nodes_used"].max() == 8
    assert binpack.summary["packing_efficiency"]["cpus"] == pytest.approx(1.0)
    assert spread.summary["packing_efficiency"]["cpus"] == pytest.approx(0.25)


def test_the_report_has_the_table_front_recommendation_and_plots(sweep, tmp_path):
    grid, _, runs = sweep
    analysis = write_sweep(runs, grid, tmp_path)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert len(doc["runs"]) == 4
    assert doc["recommended"]["label"].startswith("strategy=binpack")
    assert "fewest nodes" in doc["recommended"]["reason"]
    assert all(label.startswith("strategy=binpack") for label in doc["pareto_front"])
    assert analysis.front == [0, 1]
    assert len((tmp_path / "sweep.csv").read_text().splitlines()) == 5
    for name in PLOTS:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_nodes_plot_shows_what_the_strategy_changed(sweep, tmp_path):
    """One strategy's nodes-in-use plot is not the other's, with the same labels."""
    grid, _, runs = sweep
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_sweep([runs[0]], grid, tmp_path / "a")
    write_sweep([replace(runs[2], settings=runs[0].settings)], grid, tmp_path / "b")
    for name in ("nodes_used.png", "packing.png"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


points = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=25)


@given(points)
def test_the_pareto_front_is_undominated_and_dominates_the_rest(values):
    front = set(pareto_front(values))
    assert front
    for i, p in enumerate(values):
        if i in front:
            assert not any(dominates(q, p) for q in values)
        else:
            assert any(dominates(values[j], p) for j in front)


def test_the_front_of_hand_made_outcomes():
    assert pareto_front([(10, 30), (6, 35), (4, 100), (12, 20), (11, 40), (6, 35)]) == \
        [0, 1, 2, 3, 5]


def test_the_rule_takes_the_fewest_nodes_within_the_p99_slack_of_the_best():
    outcomes = [Outcome(10, 30.0), Outcome(6, 35.0), Outcome(4, 100.0), Outcome(12, 20.0)]
    # best p99 20 s; slack max(25 %, 10 s) = 10 s: 10 nodes at 30 s is allowed, 6 at 35 not
    pick = recommend(outcomes)
    assert pick.index == 0
    assert "within 30 s" in pick.reason
    assert recommend(outcomes, slack_share=1.0).index == 1  # within 40 s: 6 nodes


def test_the_rule_leaves_out_violations_and_unplaced_work():
    outcomes = [Outcome(2, 10.0, never_ran=3), Outcome(3, 10.0, violations=1),
                Outcome(8, 12.0), Outcome(9, 11.0)]
    pick = recommend(outcomes)
    assert pick.index == 2
    assert "2 setting(s) left out" in pick.reason
    assert recommend([]) is None
    assert recommend([Outcome(1, None), Outcome(1, None, risk=2)]).index == 0


def made_run(nodes: float, p99: float, preempted: int) -> SweepRun:
    summary = {"nodes_used": {"mean": nodes}, "pending_time_s": {"p99": p99},
               "tasks": {"never_ran": 0}, "sla_violations": 0,
               "elasticity": {"preemptions": preempted}}
    return SweepRun({}, summary, {}, None)


def test_preemptions_make_a_second_front_and_break_ties():
    runs = [made_run(4, 30.0, 9), made_run(4, 30.0, 2), made_run(6, 30.0, 0),
            made_run(8, 50.0, 0)]
    analysis = analyse(runs)
    assert analysis.front == [0, 1]
    assert analysis.risk_front == [1, 2]
    assert analysis.recommended.index == 1
    assert analyse(runs[3:]).risk_front is None


def invoke(tmp_path, *sweeps: str, extra: tuple[str, ...] = ()):
    return CliRunner().invoke(main, ["sim", "--nodes", "4", "--synthetic", "--tasks", "40",
                                     "--duration", "600", *extra,
                                     *(a for s in sweeps for a in ("--sweep", s)),
                                     "--report", str(tmp_path / "out")])


def test_the_cli_prints_the_table_and_writes_the_report(tmp_path):
    result = invoke(tmp_path, "strategy=binpack,spread", "margin=0.05,0.2",
                    "offer-interval=5", extra=("--jobs", "2"))
    assert result.exit_code == 0, result.output
    assert "recommended: strategy=" in result.output
    assert "fixed: offer_interval=5" in result.output
    doc = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [r["label"] for r in doc["runs"]] == [
        "strategy=binpack margin=0.05", "strategy=binpack margin=0.2",
        "strategy=spread margin=0.05", "strategy=spread margin=0.2"]
    assert doc["parameters"] == {"strategy": ["binpack", "spread"], "margin": [0.05, 0.2],
                                 "offer_interval": [5.0]}
    assert doc["fixed"] == {"offer_interval": 5.0}
    # the margin only matters to intelligence: each strategy's two runs ended alike
    assert doc["same_outcomes"] == [
        ["strategy=binpack margin=0.05", "strategy=binpack margin=0.2"],
        ["strategy=spread margin=0.05", "strategy=spread margin=0.2"]]
    assert "ended exactly alike" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize(("sweeps", "message"), [
    (("colour=red,blue",), "--sweep colour: unknown parameter; one of strategy, margin"),
    (("margin=0.1,lots",), "--sweep margin: 'lots': not a number"),
    (("margin=-1",), "--sweep margin: '-1': must be between 0 and 10"),
    (("strategy=binpack,tetris",), "--sweep strategy: 'tetris': unknown strategy"),
    (("strategy",), "--sweep 'strategy': write NAME=V1,V2,..."),
    (("margin=",), "--sweep margin: no values"),
    (("margin=0.1", "margin=0.2"), "--sweep margin: given twice"),
    (("reshuffle_every=0",), "--sweep reshuffle_every: '0': must be at least 1"),
    (("elastic=maybe",), "--sweep elastic: 'maybe': true or false"),
    (("backoff=60", "max_backoff=30"), "--sweep max_backoff: backoff=60 max_backoff=30: "
                                       "the maximum backoff is below the first backoff"),
])
def test_bad_sweep_input_is_named_and_nothing_is_written(tmp_path, sweeps, message):
    result = invoke(tmp_path, *sweeps)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_every_bad_value_is_reported_at_once(tmp_path):
    result = invoke(tmp_path, "colour=red", "margin=x", "offer_interval=0")
    assert result.exit_code == 2
    assert result.output.count("--sweep ") == 3


def test_sweep_and_compare_do_not_mix(tmp_path):
    result = invoke(tmp_path, "margin=0.1", extra=("--compare", "binpack,spread"))
    assert result.exit_code == 2
    assert "not both" in result.output
    assert not (tmp_path / "out").exists()


def test_jobs_without_a_sweep_is_refused(tmp_path):
    result = invoke(tmp_path, extra=("--jobs", "2"))
    assert result.exit_code == 2
    assert "--jobs goes with --sweep" in result.output
    assert not (tmp_path / "out").exists()


def test_aliases_and_never_read_as_their_settings():
    grid = parse_sweeps(["decline-filter=5", "reshuffle_interval=never,3600",
                         "elastic=on,off"])
    assert grid == {"refuse_seconds": [5.0], "reshuffle_every": [None, 3600.0],
                    "elastic": [True, False]}
    configs = [c for _, c in combinations(grid, SimConfig())]
    assert [(c.refuse_seconds, c.reshuffle_every, c.elastic) for c in configs] == [
        (5.0, None, True), (5.0, None, False), (5.0, 3600.0, True), (5.0, 3600.0, False)]


def test_the_terminal_table_shows_settings_as_written():
    from rich.console import Console

    from simulator.sweep_report import terminal_table

    outcome = {"nodes_mean": 3.25, "nodes_max": 4, "pending_p50_s": 1.0, "pending_p99_s": None,
               "never_ran": 0, "finished": 9, "packing_cpus": 0.5, "packing_mem": 0.25,
               "requested_cpus": 0.1, "preemptions": 0, "sla_violations": 0}
    table = [{"elastic": flag, "reshuffle_every": "never", **outcome, "pareto": flag,
              "recommended": flag} for flag in (True, False)]
    console = Console(width=200, record=True)
    console.print(terminal_table(table, ["elastic"]))
    text = console.export_text()
    assert "->*   true" in text
    assert "false" in text
    assert "fixed: reshuffle_every=never" in text
    assert "3.2" in text and "50%" in text
