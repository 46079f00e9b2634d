"""The farm's pure rules (framework/farms.py) and its schedules (framework/
farm_schedules.py): bags, prices, the split, the cost, the front, the choice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.farm_schedules import NoSchedule, choose, lanes_makespan, pools, schedules
from framework.farms import (
    BadFarmInput,
    NodeType,
    lane_occupancy,
    node_types,
    parse_bag,
    pool_cost,
    split,
    task_script,
)
from offers.pareto import dominates

TYPES = {"small": NodeType("small", 0.1, 3), "large": NodeType("large", 0.45, 2)}
SAMPLES = {"small": [9.0, 10.0, 12.0, 11.0, 14.0] * 7, "large": [3.0, 4.0, 3.5] * 11}


def test_a_bag_is_its_lines_and_a_final_newline_is_no_empty_line():
    assert parse_bag("a\nb && c\r\n") == ("a", "b && c")
    with pytest.raises(BadFarmInput) as caught:
        parse_bag("a\n\nb\n" + "y" * 4097, "jobs.bot")
    assert [p.field for p in caught.value.problems] == ["jobs.bot:2", "jobs.bot:4"]


def test_agents_without_a_price_make_their_node_type_an_error():
    agents = [{"attributes": {"nodetype": "small", "price": "0.1"}},
              {"attributes": {"nodetype": "large"}}]
    with pytest.raises(BadFarmInput) as caught:
        node_types(agents)
    assert caught.value.message == "node type 'large' has no price"
    assert caught.value.problems[0].field == "nodetypes.large.price"
    agents[1]["attributes"]["price"] = "0.4"
    found = node_types([*agents, {"attributes": {"nodetype": "small", "price": "0.1"}},
                        {"attributes": {"rack": "r1"}},
                        {"attributes": {"nodetype": "gone"}, "active": False}])
    assert found == {"large": NodeType("large", 0.4, 1), "small": NodeType("small", 0.1, 2)}


def test_a_task_script_runs_the_line_of_its_index():
    import subprocess
    script = task_script(["echo zero", "echo one; exit 3"])
    done = subprocess.run(["sh", "-c", script], env={"BERTH_JOB_INDEX": "1"},
                          capture_output=True, text=True)
    assert (done.stdout, done.returncode) == ("one\n", 3)


@given(st.dictionaries(st.sampled_from("abc"), st.integers(0, 5), min_size=1),
       st.integers(1, 4), st.integers(0, 500))
def test_the_split_gives_every_task_to_a_type_of_the_pool(pool, slots, tasks):
    means = {"a": 1.0, "b": 2.5, "c": 7.0}
    shares = split(pool, slots, means, tasks)
    if any(pool.values()):
        assert sum(shares.values()) == tasks
        assert all(pool[t] > 0 for t in shares)
    else:
        assert shares == {}


@given(st.dictionaries(st.sampled_from(["small", "large"]), st.integers(0, 10), min_size=1),
       st.floats(0, 1e5), st.integers(0, 3), st.floats(0, 1e4))
def test_cost_is_monotone_in_pool_size_and_time(pool, seconds, more, later):
    prices = {"small": 0.1, "large": 0.45}
    base = pool_cost(pool, prices, seconds)
    bigger = {t: n + more for t, n in pool.items()}
    assert pool_cost(bigger, prices, seconds) >= base
    assert pool_cost(pool, prices, seconds + later) >= base


@given(st.lists(st.floats(0.01, 100), min_size=1, max_size=60), st.integers(1, 8))
def test_more_lanes_never_finish_later_than_one(runtimes, lanes):
    assert lanes_makespan(runtimes, lanes) <= lanes_makespan(runtimes, 1) + 1e-9
    assert lanes_makespan(runtimes, lanes) >= max(runtimes) - 1e-9


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 300), st.integers(0, 1000))
def test_the_front_is_non_dominated_and_everything_else_is_dominated(tasks, seed):
    found = schedules(SAMPLES, TYPES, tasks, slots=1, seed=seed, replications=20)
    assert len(found) == len(pools(TYPES)) == 11
    points = [(s.makespan.mean, s.cost.mean) for s in found]
    for s, p in zip(found, points, strict=True):
        beaten = any(dominates(q, p) for q in points if q is not p)
        assert s.front is not beaten
        assert s.makespan.low <= s.makespan.mean <= s.makespan.high
        assert sum(s.shares.values()) == tasks


def test_a_budget_takes_the_fastest_within_it_and_a_deadline_the_cheapest():
    found = schedules(SAMPLES, TYPES, 200, seed=3, replications=50)
    budget = sorted(s.cost.high for s in found)[5]
    picked = choose(found, budget=budget)
    assert picked.cost.high <= budget
    assert all(s.makespan.mean >= picked.makespan.mean for s in found
               if s.cost.high <= budget)
    deadline = sorted(s.makespan.high for s in found)[5]
    picked = choose(found, deadline=deadline)
    assert all(s.cost.mean >= picked.cost.mean for s in found
               if s.makespan.high <= deadline)
    with pytest.raises(NoSchedule, match=r"the cheapest is #0 .* the fastest is #"):
        choose(found, deadline=1.0)


def test_a_pool_takes_the_schedule_on_exactly_that_pool():
    """HTC's `submit` runs on the configuration `select` chose; zero counts name no node."""
    found = schedules(SAMPLES, TYPES, 200, seed=3, replications=50)
    for schedule in found:
        with_zeros = {t: schedule.pool.get(t, 0) for t in TYPES}
        assert choose(found, pool=with_zeros) is schedule
    with pytest.raises(NoSchedule, match=r"no schedule runs on .* x99"):
        choose(found, pool={next(iter(TYPES)): 99})


def test_a_sample_teaches_how_long_each_task_held_its_lane():
    # 4 lanes, the first launch at 2: four tasks end at 7, the next four are launched at
    # 8 (an offer round later) and end at 12: each held its lane 5 s.
    runs = [(2.0, 7.0)] * 4 + [(8.0, 12.0)] * 4
    held = lane_occupancy(runs, lanes=4, first_launch=2.0)
    assert held == (5.0,) * 8
    assert 2.0 + lanes_makespan(held, 4) == pytest.approx(12.0)  # the sample's own time
    # one lane: each task held it from the previous end
    assert lane_occupancy([(0.0, 1.0), (1.5, 2.0), (2.5, 4.0)], 1, 0.0) == (1.0, 1.0, 2.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0.01, 50), min_size=1, max_size=120), min_size=1,
                max_size=4).filter(lambda rows: len({len(r) for r in rows}) == 1),
       st.integers(1, 6))
def test_the_vectorized_lanes_agree_with_the_plain_replay(rows, lanes):
    import numpy as np

    from framework.farm_schedules import TAIL_WAVES, lanes_makespans
    got = lanes_makespans(np.array(rows), lanes)
    for row, value in zip(rows, got, strict=True):
        exact = lanes_makespan(row, lanes)
        if len(row) <= TAIL_WAVES * lanes:
            assert value == pytest.approx(exact)
        else:  # the bulk taken as spread evenly: within one task of the replay
            assert abs(value - exact) <= max(row) + 1e-9


def test_a_bag_too_large_for_one_script_is_refused():
    with pytest.raises(BadFarmInput) as caught:
        parse_bag(("echo " + "x" * 4000 + "\n") * 40, "big")
    assert caught.value.problems[0].field == "big"
    assert "Linux's limit on one argument" in caught.value.problems[0].problem
