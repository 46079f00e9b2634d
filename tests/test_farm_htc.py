"""HTC on a farm (ConPaaS's HTC service): `throughput = f(cost)` from the samples, the
cheapest pool for a target, bags added on the current configuration, runs' runtimes
joining the samples; pure rules (with hypothesis) and `berth farm throughput|select|add`
and `--report` end to end in demo mode."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.farm_htc import (
    MAX_MEASURED,
    NoConfiguration,
    for_target,
    learn,
    new_bag,
    throughput_function,
)
from framework.farms import NodeType, farm_from_json
from tests.test_farm_demo import farm_cli

__all__ = ["farm_cli"]  # the fixture, shared with the demo tests

runtimes = st.lists(st.floats(0.1, 100.0), min_size=1, max_size=8)
nodetypes = st.dictionaries(
    st.sampled_from(["small", "medium", "large"]),
    st.tuples(st.floats(0.0, 2.0), st.integers(1, 3), runtimes), min_size=1, max_size=3)


def _split(drawn):
    types = {n: NodeType(n, price, nodes) for n, (price, nodes, _) in drawn.items()}
    return types, {n: r for n, (_, _, r) in drawn.items()}


@settings(max_examples=60, deadline=None)
@given(nodetypes, st.integers(1, 4))
def test_along_the_front_throughput_grows_with_cost(drawn, slots):
    types, samples = _split(drawn)
    function = throughput_function(samples, types, slots)
    assert len(function) == _pool_count(types)
    front = sorted((c for c in function if c.front), key=lambda c: (c.cost, c.throughput))
    for cheaper, dearer in itertools.pairwise(front):
        assert dearer.throughput >= cheaper.throughput
    for c in function:  # nothing off the front is both cheaper and faster than it
        if not c.front:
            assert any(f.cost <= c.cost and f.throughput >= c.throughput for f in front)


def _pool_count(types) -> int:
    count = 1
    for t in types.values():
        count *= t.nodes + 1
    return count - 1


@settings(max_examples=60, deadline=None)
@given(nodetypes, st.integers(1, 4), st.floats(0.0, 20_000.0))
def test_the_chosen_pool_reaches_the_target_at_least_cost(drawn, slots, target):
    types, samples = _split(drawn)
    function = throughput_function(samples, types, slots)
    reaching = [c for c in function if c.throughput >= target]
    if not reaching:
        with pytest.raises(NoConfiguration) as caught:
            for_target(function, target)
        best = max(c.throughput for c in function)
        assert caught.value.best.throughput == best
        assert "the most there is" in str(caught.value)
        return
    chosen = for_target(function, target)
    assert chosen.throughput >= target
    assert chosen.cost == min(c.cost for c in reaching)


def test_throughput_counts_every_lane_at_its_mean_time():
    types = {"small": NodeType("small", 0.1, 2), "big": NodeType("big", 0.5, 1)}
    function = throughput_function({"small": [10.0, 20.0], "big": [3.0]}, types, slots=2)
    by_pool = {tuple(sorted(c.pool.items())): c for c in function}
    small2 = by_pool[(("big", 0), ("small", 2))]
    assert small2.throughput == pytest.approx(2 * 2 * 3600 / 15)  # 960 tasks/hour
    assert small2.cost == pytest.approx(0.2)
    assert for_target(function, 960).pool == {"big": 0, "small": 2}
    assert for_target(function, 961).pool == {"big": 1, "small": 0}  # 2400/h for 0.5


def test_measured_runtimes_join_the_samples_newest_kept():
    joined = learn({"a": (1.0, 2.0), "b": (5.0,)}, {"a": (3.0,), "c": (4.0,)})
    assert joined == {"a": (1.0, 2.0, 3.0), "b": (5.0,), "c": (4.0,)}
    many = learn({"a": (1.0,) * MAX_MEASURED}, {"a": (9.0,)})["a"]
    assert len(many) == MAX_MEASURED and many[-1] == 9.0


def test_a_bag_is_split_over_the_configuration_by_throughput():
    bag = new_bag(3, ["true"] * 10, {"small": 2, "big": 1, "none": 0},
                  {"small": [10.0], "big": [2.5]}, 1, now=7.0)
    assert bag.pool == {"small": 2, "big": 1}
    assert bag.shares == {"small": 3, "big": 7}  # rates 0.2 and 0.4 per second
    assert (bag.number, bag.submitted_at, bag.phase) == (3, 7.0, "running")


def _bag(path: Path, count: int) -> Path:
    path.write_text("".join(f"sleep {i % 3}\n" for i in range(count)))
    return path


def test_htc_in_demo_mode_selects_adds_bags_on_it_and_relearns(farm_cli, tmp_path):
    created = farm_cli("create", str(_bag(tmp_path / "bag.txt", 40)), "--image", "i",
                       "--demo", "--nodetype", "small=0.1:3", "--nodetype", "big=0.4:2",
                       "--runtime", "small=fixed:10", "--runtime", "big=fixed:4")
    farm_id = created.output.strip()
    assert farm_cli("sample", farm_id).exit_code == 0

    shown = farm_cli("throughput", farm_id, "--target", "1500", "--json")
    answer = json.loads(shown.output)
    # small: 360 tasks/hour a node for 0.1; big: 900 for 0.4. 1500/hour: small x2 and
    # big x1 give 1620 for 0.6; small x3 (1080) is too few; big x2 (1800) costs 0.8.
    assert answer["for_target"]["pool"] == {"big": 1, "small": 2}
    assert answer["for_target"]["cost"] == pytest.approx(0.6)
    assert answer["max_throughput"] == pytest.approx(3 * 360 + 2 * 900)

    too_much = farm_cli("throughput", farm_id, "--target", "5000")
    assert too_much.exit_code != 0
    assert "no pool reaches 5000 tasks/hour; the most there is: big x2, small x3: " \
           "2880.0 tasks/hour for 1.1000/hour" in too_much.output

    refused = farm_cli("add", farm_id, str(_bag(tmp_path / "early.txt", 5)))
    assert refused.exit_code != 0 and "select a target throughput first" in refused.output

    selected = farm_cli("select", farm_id, "--target", "1500")
    assert selected.exit_code == 0 and "big x1, small x2" in selected.output
    added = farm_cli("add", farm_id, str(_bag(tmp_path / "more.txt", 22)))
    assert added.exit_code == 0, added.output
    farm = farm_from_json(json.loads((farm_cli.dir / f"{farm_id}.json").read_text())["farm"])
    [bag] = farm.bags
    assert bag.pool == {"big": 1, "small": 2} and sum(bag.shares.values()) == 22
    assert bag.phase == "done" and farm.configuration == {"big": 1, "small": 2}
    # its runtimes joined the samples: 31 sampled + the bag's tasks on each type
    assert len(farm.samples["big"]) == 31 + bag.shares["big"]
    assert len(farm.samples["small"]) == 31 + bag.shares["small"]

    report = tmp_path / "report"
    assert farm_cli("throughput", farm_id, "--target", "1500", "--report",
                    str(report)).exit_code == 0
    names = {p.name for p in report.iterdir()}
    assert {"farm.json", "report.md", "schedules.json", "schedules.csv", "schedules.png",
            "throughput.json", "throughput.csv", "throughput.png"} <= names
    assert (report / "throughput.png").read_bytes()[:4] == b"\x89PNG"
    text = (report / "report.md").read_text()
    assert "## HTC: throughput = f(cost)" in text and "| 1 | 22 | big x1, small x2 |" in text


def test_submit_in_demo_mode_runs_the_rest_on_the_selected_configuration(farm_cli, tmp_path):
    farm_id = farm_cli("create", str(_bag(tmp_path / "bag.txt", 100)), "--image", "i",
                       "--demo", "--nodetype", "small=0.1:3", "--nodetype", "big=0.4:2",
                       "--runtime", "small=fixed:10", "--runtime", "big=fixed:4"
                       ).output.strip()
    assert farm_cli("sample", farm_id).exit_code == 0
    early = farm_cli("submit", farm_id)
    assert early.exit_code != 0 and "select a target throughput first" in early.output
    for bad in (("--pool", "small=4"), ("--pool", "small"), ("--target", "1", "--pool",
                                                               "big=1"), ()):
        refused = farm_cli("select", farm_id, *bad)
        assert refused.exit_code != 0, bad
    assert "pool.small: must be a whole number within 0-3" in \
        farm_cli("select", farm_id, "--pool", "small=4").output
    by_hand = farm_cli("select", farm_id, "--pool", "big=2")
    assert by_hand.exit_code == 0 and "big x2: 1800.0 tasks/hour" in by_hand.output
    assert farm_cli("select", farm_id, "--target", "1500").exit_code == 0
    submitted = farm_cli("submit", farm_id)
    assert submitted.exit_code == 0, submitted.output
    farm = farm_from_json(json.loads((farm_cli.dir / f"{farm_id}.json").read_text())["farm"])
    assert farm.phase.value == "done" and farm.pool == {"big": 1, "small": 2}
    assert sum(farm.shares.values()) == 100 - 31  # the rest of the first bag
    again = farm_cli("submit", farm_id)
    assert again.exit_code != 0 and "a farm runs once" in again.output


def test_a_run_writes_its_report_with_forecast_and_execution(farm_cli, tmp_path):
    farm_id = farm_cli("create", str(_bag(tmp_path / "bag.txt", 50)), "--image", "i",
                       "--demo", "--nodetype", "small=0.1:2",
                       "--runtime", "small=uniform:5:7").output.strip()
    farm_cli("sample", farm_id)
    report = tmp_path / "run-report"
    ran = farm_cli("run", farm_id, "--schedule", "0", "--report", str(report))
    assert ran.exit_code == 0, ran.output
    view = json.loads((report / "farm.json").read_text())
    assert view["phase"] == "done"
    rows = (report / "schedules.csv").read_text().splitlines()
    assert rows[0].startswith("index,pool,tasks,makespan_mean") and len(rows) == 1 + 2
    text = (report / "report.md").read_text()
    assert "## The run" in text and "Executed makespan:" in text
    assert (report / "schedules.png").read_bytes()[:4] == b"\x89PNG"
