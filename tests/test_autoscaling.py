"""The autoscaler's decision without a process: every combinator of the tree evaluated
over an in-memory metric source, and the rules around it (tolerance, stabilization,
cooldowns, the maximum step, bounds, a missing metric), then hypothesis's invariants:
the count stays within bounds, never goes down on a missing metric, never moves by more
than the maximum step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.autoscaling import Decision, Subject, decide, evaluate, fetch, queries
from offers.autoscale import AutoscalePolicy, Strategy, parse_node
from offers.job import parse_job
from offers.problems import SpecError
from tests.metric_source import InMemoryMetrics

NOW = 10_000.0
CPU = {"node": "metric", "name": "cpu"}


def subject(count=2, instances=("web.1", "web.2"), now=NOW) -> Subject:
    return Subject("web", "default", tuple(instances), count, now)


def value(tree: dict, metrics: InMemoryMetrics, who: Subject | None = None):
    who = who or subject()
    node = parse_node(tree)
    return evaluate(node, who, fetch(metrics, queries(node, who)))


def job_metrics(name="cpu", **at_values) -> InMemoryMetrics:
    metrics = InMemoryMetrics()
    for ago, v in at_values.items():
        metrics.record(name, v, NOW - float(ago.removeprefix("t")), job="web",
                       namespace="default")
    return metrics


# -- the combinators ------------------------------------------------------------------


@pytest.mark.parametrize(("agg", "expected"), [("mean", 60.0), ("max", 90.0),
                                               ("min", 30.0), ("sum", 180.0),
                                               ("last", 30.0)])
def test_metric_aggregates_the_jobs_readings_over_its_window(agg, expected):
    metrics = job_metrics(t50=60, t40=90, t10=30, t100=1000)  # t100: outside 60 s
    got = value({**CPU, "agg": agg}, metrics)
    assert got.number == expected
    assert got.text == f"cpu {agg} {expected:g}"


def test_metric_of_another_job_or_namespace_is_not_read():
    metrics = InMemoryMetrics()
    metrics.record("cpu", 5, NOW - 1, job="other", namespace="default")
    metrics.record("cpu", 5, NOW - 1, job="web", namespace="team-b")
    got = value(CPU, metrics)
    assert got.number is None and got.missing == ("cpu",)


def test_per_instance_reads_each_running_instance_and_combines():
    metrics = InMemoryMetrics()
    for instance, v in (("web.1", 20), ("web.2", 80), ("web.9", 500)):  # web.9 is gone
        metrics.record("cpu", v, NOW - 5, job="web", namespace="default", instance=instance)
    tree = {"node": "per_instance", "of": CPU}
    assert value(tree, metrics).number == 80
    assert value({**tree, "combine": "min"}, metrics).number == 20
    assert value({**tree, "combine": "mean"}, metrics).number == 50
    assert value({**tree, "combine": "sum"}, metrics).number == 100
    assert "(2 of 2 instances)" in value(tree, metrics).text
    assert value(tree, metrics, subject(instances=())).number is None


def test_average_takes_the_mean_of_its_samples_over_the_window():
    metrics = job_metrics(t1=100, t61=50, t121=30)  # one reading in each minute
    tree = {"node": "average", "window": 180, "samples": 3, "of": CPU}
    assert value(tree, metrics).number == pytest.approx(60)
    # samples with no reading are left out, not counted as zero
    assert value({**tree, "window": 360, "samples": 6}, metrics).number == pytest.approx(60)


@pytest.mark.parametrize(("op", "expected"), [("max", 9), ("min", 3), ("mean", 6),
                                              ("sum", 12)])
def test_combine(op, expected):
    metrics = job_metrics(t1=3)
    for v in (9,):
        metrics.record("mem", v, NOW - 1, job="web", namespace="default")
    tree = {"node": "combine", "op": op, "of": [CPU, {**CPU, "name": "mem"}]}
    assert value(tree, metrics).number == expected


def test_combine_with_a_missing_branch_uses_the_others_and_says_what_is_missing():
    got = value({"node": "combine", "of": [CPU, {**CPU, "name": "mem"}]}, job_metrics(t1=3))
    assert got.number == 3 and got.missing == ("mem",)


@pytest.mark.parametrize(("reading", "count"), [(80, 4), (50, 2), (10, 0), (30, 2)])
def test_threshold_steps_the_count(reading, count):
    tree = {"node": "threshold", "of": CPU, "low": 30, "high": 70, "step": 2}
    assert value(tree, job_metrics(t1=reading)).number == count


@pytest.mark.parametrize(("reading", "count"), [
    (100, 4),  # twice the target: twice the instances
    (54, 2),  # within 10% of the target: kept
    (46, 2),
    (20, 1),
    (56, 3),  # ceil(2 x 1.12)
])
def test_target_is_hpas_ratio_with_a_tolerance(reading, count):
    tree = {"node": "target", "of": CPU, "value": 50}
    assert value(tree, job_metrics(t1=reading)).number == count


def test_target_counts_from_one_when_none_runs():
    tree = {"node": "target", "of": CPU, "value": 50}
    assert value(tree, job_metrics(t1=150), subject(count=0)).number == 3


def test_bounded_keeps_a_value_within_its_bounds():
    tree = {"node": "bounded", "min": 20, "max": 60, "of": CPU}
    assert value(tree, job_metrics(t1=90)).number == 60
    assert value(tree, job_metrics(t1=5)).number == 20
    assert value(tree, job_metrics(t1=33)).number == 33


def test_strategies_pick_from_smallest_to_largest():
    sizes = AutoscalePolicy.model_validate({"max": 2, "on_autoscaling": {
        "response_time_threshold": 100, "sizes": [
            {"cpus": c, "mem": 128 * c} for c in (4, 1, 3, 2, 5)]}}).on_autoscaling.sizes
    assert [Strategy(s).pick(sizes).cpus for s in
            ("low", "medium_down", "medium", "medium_up", "high")] == [1, 2, 3, 4, 5]


# -- the decision ---------------------------------------------------------------------


def policy(**fields) -> AutoscalePolicy:
    rule = fields.pop("rule", {"node": "target", "of": CPU, "value": 50})
    return AutoscalePolicy.model_validate({"min": 1, "max": 10, "rule": rule, **fields})


def decision(p: AutoscalePolicy, reading: float | None, count=2, now=NOW,
             history=()) -> Decision:
    who = subject(count=count, now=now)
    metrics = InMemoryMetrics()
    if reading is not None:
        metrics.record("cpu", reading, now - 1, job="web", namespace="default")
    return decide(p, who, fetch(metrics, queries(p.tree, who)), list(history))


def past(at: float, current: int, recommended: int | None, desired: int | None = None
         ) -> Decision:
    return Decision("web", at, current, current if desired is None else desired,
                    recommended, "earlier")


def test_a_decision_says_what_changed_and_why_with_its_inputs():
    got = decision(policy(scale_down={"stabilization": 0}), 150)
    assert (got.current, got.desired, got.recommended) == (2, 6, 6)
    assert got.reason == "count 2 -> 6: cpu mean 150 against target 50 (x3.00)"
    assert got.inputs == {"cpu mean 60s": 150}


def test_a_missing_metric_never_changes_the_count():
    got = decision(policy(min=5), None, count=8)
    assert got.desired == 8 and got.recommended is None
    assert got.reason == "count 8 kept: cpu mean missing: no metric, no change"


def test_a_missing_branch_forbids_a_scale_down_only():
    rule = {"node": "combine", "of": [
        {"node": "target", "of": CPU, "value": 50},
        {"node": "target", "of": {**CPU, "name": "rps"}, "value": 100}]}
    p = policy(rule=rule, scale_down={"stabilization": 0})
    assert decision(p, 10, count=6).desired == 6
    assert "no scale-down while rps is missing" in decision(p, 10, count=6).reason
    assert decision(p, 100, count=2).desired == 4


def test_the_count_is_kept_within_the_policys_bounds():
    p = policy(min=2, max=5, scale_down={"stabilization": 0})
    high = decision(p, 1000, count=3)
    assert high.desired == 5 and "(bounded at max 5)" in high.reason
    assert decision(p, 1, count=4).desired == 2


def test_max_step_limits_each_decision():
    p = policy(max_step=2, scale_down={"stabilization": 0})
    assert decision(p, 500, count=2).desired == 4
    assert "at most 2 per decision" in decision(p, 500, count=2).reason
    assert decision(p, 1, count=9).desired == 7


def test_scale_down_stabilization_takes_the_highest_recommendation_of_the_window():
    p = policy()  # scale-down stabilization 300 s
    history = [past(NOW - 200, 6, 6), past(NOW - 100, 6, 4)]
    got = decision(p, 25, count=6, history=history)  # recommends 3
    assert got.desired == 6  # 200 s ago 6 were asked for
    got = decision(p, 25, count=6, now=NOW + 101, history=history)
    assert got.desired == 4  # the 6 left the window; the highest since is 4
    got = decision(p, 25, count=6, now=NOW + 201, history=history)
    assert got.desired == 3


def test_scale_up_stabilization_takes_the_lowest_recommendation_of_the_window():
    p = policy(scale_up={"stabilization": 120})
    history = [past(NOW - 60, 2, 3)]
    assert decision(p, 200, history=history).desired == 3  # 3 is all that was asked
    assert decision(p, 200, now=NOW + 61, history=history).desired == 8


def test_cooldowns_hold_each_direction_after_a_change():
    p = policy(scale_up={"cooldown": 60}, scale_down={"cooldown": 600, "stabilization": 0})
    changed = [past(NOW - 30, 2, 3, desired=3)]
    up = decision(p, 200, count=3, history=changed)
    assert up.desired == 3 and "waits for the cooldown" in up.reason
    assert decision(p, 200, count=3, now=NOW + 31, history=changed).desired == 12 - 2
    assert decision(p, 5, count=3, now=NOW + 31, history=changed).desired == 3
    assert decision(p, 5, count=3, now=NOW + 571, history=changed).desired == 1


def test_a_threshold_needs_no_stabilization_to_keep_stepping():
    p = policy(rule={"node": "threshold", "of": CPU, "low": 20, "high": 80})
    history: list[Decision] = []
    count, counts = 4, []
    for minute in range(8):
        got = decision(p, 5, count=count, now=NOW + 60 * minute, history=history)
        history.append(got)
        count = got.desired
        counts.append(count)
    assert counts == [3, 2, 1, 1, 1, 1, 1, 1]  # nothing asked for more in the window


def test_repeated_calls_are_counted_in_the_reason():
    p = policy(rule={"node": "threshold", "of": CPU, "low": 20, "high": 80})
    history = [past(NOW - 120, 1, 2, desired=2), past(NOW - 60, 2, 3, desired=3)]
    got = decision(p, 90, count=3, history=history)
    assert got.reason == "count 3 -> 4: cpu mean 90 over 80 for 3 intervals"


# -- invariants -----------------------------------------------------------------------

readings = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))
policies = st.builds(
    lambda lo, span, step, up, down, rule: policy(
        min=lo, max=lo + span, max_step=step, rule=rule,
        scale_up={"cooldown": up, "stabilization": up},
        scale_down={"cooldown": down, "stabilization": down}),
    st.integers(0, 5), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 4)),
    st.sampled_from([0, 60, 300]), st.sampled_from([0, 60, 300]),
    st.sampled_from([
        {"node": "target", "of": CPU, "value": 50},
        {"node": "threshold", "of": CPU, "low": 20, "high": 80, "step": 3},
        {"node": "combine", "op": "max", "of": [
            {"node": "target", "of": CPU, "value": 50},
            {"node": "target", "of": {**CPU, "name": "rps"}, "value": 10}]},
        {"node": "bounded", "min": 0, "max": 7, "of": {
            "node": "target", "of": {"node": "per_instance", "of": CPU}, "value": 30}}]))


@settings(max_examples=200)
@given(p=policies, series=st.lists(st.tuples(readings, readings), min_size=1, max_size=30),
       start=st.integers(0, 30))
def test_the_count_stays_within_bounds_moves_by_max_step_and_never_falls_on_a_gap(
        p, series, start):
    count = min(max(start, p.min), p.max)
    history: list[Decision] = []
    for i, (cpu, rps) in enumerate(series):
        now = NOW + 30 * i
        who = Subject("web", "default", tuple(f"web.{k}" for k in range(count)), count, now)
        metrics = InMemoryMetrics()
        for name, reading in (("cpu", cpu), ("rps", rps)):
            if reading is not None:
                metrics.record(name, reading, now - 1, job="web", namespace="default")
        for instance in who.instances:
            if cpu is not None:
                metrics.record("cpu", cpu, now - 1, job="web", namespace="default",
                               instance=instance)
        wanted = queries(p.tree, who)
        read = fetch(metrics, wanted)
        got = decide(p, who, read, history)
        assert p.min <= got.desired <= p.max
        if p.max_step is not None:
            assert abs(got.desired - count) <= p.max_step
        if any(read[q] is None for q in wanted):  # a metric missing: never down
            assert got.desired >= count
        if all(read[q] is None for q in wanted):  # all missing: no change at all
            assert got.desired == count
        history.append(got)
        count = got.desired


def test_parse_job_rejects_what_the_tree_cannot_mean():
    with pytest.raises(SpecError) as info:
        parse_job({"name": "w", "task": {"dockerimage": "x"}, "autoscale": {
            "max": 3, "rule": {"node": "threshold", "low": 9, "high": 2, "of": {
                "node": "combine", "of": [CPU, {"node": "target", "value": 1, "of": CPU}]}}}})
    assert [(p.field, p.problem) for p in info.value.problems] == [
        ("autoscale.rule.low", "low 9 is above high 2"),
        ("autoscale.rule.of.of", "mixes metric values and counts: combine one kind")]
