"""The metrics store: what is recorded can be asked for, rollups keep exact means over
whole buckets, retention drops old data, aggregates answer the autoscaler's questions.
On SQLite, and on PostgreSQL when BERTH_TEST_POSTGRES_URL is set (scripts/postgres.sh)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence.metric_input import Sample
from persistence.metrics import MetricsStore, Retention
from tests.master_db import db_url

__all__ = ["db_url"]  # the fixture: SQLite, and PostgreSQL when one is given

HOUR = 3600.0
T0 = 1_790_000_000.0 // 3600 * 3600  # an hour boundary


@pytest.fixture
def store(db_url):
    s = MetricsStore(db_url)
    yield s
    s.close()


def _web(i: int, value: float, at: float, name: str = "cpu") -> Sample:
    return Sample(name, value, at, {"node": f"n{i}", "job": "web", "instance": f"web-{i}",
                                    "namespace": "team"})


def test_aggregates_over_the_series_that_carry_the_tags(store):
    store.record([_web(0, 1.0, T0), _web(0, 3.0, T0 + 5), _web(1, 10.0, T0 + 2)])
    window = {"start": T0, "end": T0 + 60}
    assert store.aggregate("cpu", tags={"job": "web"}, agg="mean", **window) == \
        pytest.approx(14 / 3)
    assert store.aggregate("cpu", tags={"job": "web"}, agg="max", **window) == 10.0
    assert store.aggregate("cpu", tags={"job": "web"}, agg="min", **window) == 1.0
    assert store.aggregate("cpu", tags={"job": "web"}, agg="sum", **window) == 14.0
    assert store.aggregate("cpu", tags={"job": "web"}, agg="last", **window) == 3.0
    assert store.aggregate("cpu", tags={"instance": "web-1"}, agg="mean", **window) == 10.0
    assert store.aggregate("cpu", tags={"job": "db"}, agg="mean", **window) is None
    assert store.aggregate("mem", tags={}, agg="mean", **window) is None
    assert store.aggregate("cpu", tags={}, agg="mean", start=T0 + 100, end=T0 + 200) is None


def test_group_by_and_step(store):
    store.record([_web(i % 2, float(i), T0 + i * 10) for i in range(12)])  # 2 minutes
    groups = store.query("cpu", start=T0, end=T0 + 120, agg="max", group_by="node")
    assert groups == [{"group": {"node": "n0"}, "value": 10.0},
                      {"group": {"node": "n1"}, "value": 11.0}]
    [steps] = store.query("cpu", start=T0, end=T0 + 120, agg="sum", step=60)
    assert steps["points"] == [[T0, 15.0], [T0 + 60, 51.0]]


def test_namespaces_hide_other_teams_series_but_not_the_nodes(store):
    store.record([_web(0, 1.0, T0), Sample("cpu", 5.0, T0, {"namespace": "other"}),
                  Sample("cpu", 7.0, T0, {"node": "n9"})])
    seen = store.query("cpu", start=T0, end=T0 + 1, agg="sum", namespaces=frozenset({"team"}))
    assert seen[0]["value"] == 8.0  # team's 1 and the node's 7, not other's 5


def test_compaction_rolls_up_and_retention_drops_old_data(store):
    # Three hours of one sample every 5 s for one series, then compaction "now".
    samples = [_web(0, float(i % 12), T0 + i * 5) for i in range(3 * 720)]
    store.record(samples)
    now = T0 + 3 * HOUR
    store.compact(now)
    size = store.size()
    assert size["metric_points"] <= 720 + 12  # about the last hour stays raw
    assert size["metric_rollups"] >= 2 * 60  # the two older hours as minutes (and hours)
    # The whole span still answers, with the raw mean (every minute holds 0..11).
    assert store.aggregate("cpu", tags={}, start=T0, end=now, agg="mean") == pytest.approx(5.5)
    assert store.aggregate("cpu", tags={}, start=T0, end=now, agg="max") == 11.0
    assert store.aggregate("cpu", tags={}, start=T0, end=now, agg="sum") == \
        pytest.approx(sum(s.value for s in samples))
    # A month later only hourly rollups are left, then nothing.
    store.compact(now + 2 * 86400)
    assert store.size()["metric_points"] == 0
    assert store.aggregate("cpu", tags={}, start=T0, end=now, agg="mean") == pytest.approx(5.5)
    store.compact(now + 31 * 86400)
    assert store.size()["metric_rollups"] == 0
    assert store.aggregate("cpu", tags={}, start=T0, end=now, agg="mean") is None


def test_retention_is_configurable(tmp_path):
    store = MetricsStore(f"sqlite:///{tmp_path / 'm.db'}",
                         retention=Retention(raw_seconds=60, levels=((10, 600),), grace=0))
    store.record([_web(0, 1.0, T0 + i) for i in range(120)])
    store.compact(T0 + 120)
    assert store.size()["metric_points"] == 60
    assert store.size()["metric_rollups"] == 12
    with pytest.raises(ValueError):
        Retention(levels=((60, 1), (90, 1)))


def test_a_later_value_at_the_same_time_replaces_the_earlier(store):
    store.record([_web(0, 1.0, T0)])
    store.record([_web(0, 2.0, T0)])
    assert store.aggregate("cpu", tags={}, start=T0, end=T0 + 1, agg="sum") == 2.0


def test_unknown_aggregation_or_grouping_is_refused(store):
    with pytest.raises(ValueError, match="agg"):
        store.query("cpu", start=T0, end=T0 + 1, agg="median")
    with pytest.raises(ValueError, match="group_by"):
        store.query("cpu", start=T0, end=T0 + 1, group_by="rack")


def test_rusage_in_cpu_seconds_and_mib_hours(store):
    # one instance at 2 cores and 512 MiB for 12 samples of 5 s = a minute
    store.record([_web(0, 2.0, T0 + i * 5) for i in range(12)]
                 + [_web(0, 512.0, T0 + i * 5, "mem") for i in range(12)])
    [row] = store.rusage(start=T0, end=T0 + 60, group_by="job")
    assert row == {"job": "web", "cpu_seconds": 120.0,
                   "mem_mib_hours": pytest.approx(512 / 60, abs=1e-3)}


values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=25, deadline=None)
@given(st.lists(values, min_size=1, max_size=4), st.integers(0, 59))
def test_downsampled_means_equal_raw_means_over_whole_buckets(tmp_path_factory, minutes,
                                                             offset):
    store = MetricsStore(f"sqlite:///{tmp_path_factory.mktemp('m') / 'm.db'}")
    raw = []
    for m, vals in enumerate(minutes):  # minute m holds its values, spread in the minute
        raw += [_web(0, v, T0 + m * 60 + (offset + j) % 60 + j / 1000)
                for j, v in enumerate(vals)]
    store.record(raw)
    end = T0 + len(minutes) * 60
    before = {a: store.aggregate("cpu", tags={}, start=T0, end=end, agg=a)
              for a in ("mean", "min", "max", "sum")}
    store.compact(end + 2 * HOUR)  # raw dropped: only minute rollups answer now
    assert store.size()["metric_points"] == 0
    for agg, value in before.items():
        after = store.aggregate("cpu", tags={}, start=T0, end=end, agg=agg)
        assert math.isclose(after, value, rel_tol=1e-9, abs_tol=1e-6), agg
    store.close()


def test_retention_reads_from_the_command_line_form():
    from persistence.metrics import parse_retention

    assert parse_retention("raw=1h,1m=1d,1h=30d") == Retention()
    assert parse_retention("raw=10m, 5m=7d").levels == ((300, 7 * 86400.0),)
    for bad, problem in (("raw=1h", "at least one"), ("raw=x,1m=1d", "not a duration"),
                         ("raw=1h,1m=-1d", "positive"), ("raw=1h,1m=1d,90s=1d", "divide"),
                         ("raw=1h,0.5s=1d", "whole seconds"), ("1h", "<step>=<keep>")):
        with pytest.raises(ValueError, match=problem):
            parse_retention(bad)


def test_a_query_over_more_series_than_one_statement_takes(store, monkeypatch):
    import persistence.metrics as module

    monkeypatch.setattr(module, "MAX_IDS", 2)
    store.record([_web(i, float(i), T0 + i) for i in range(5)])
    assert store.aggregate("cpu", tags={"job": "web"}, start=T0, end=T0 + 10,
                           agg="sum") == 10.0
    assert store.aggregate("cpu", tags={"job": "web"}, start=T0, end=T0 + 10,
                           agg="last") == 4.0
    assert len(store.query("cpu", start=T0, end=T0 + 10, group_by="node", step=5)) == 5


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 180), st.integers(1, 180), st.integers(0, 5 * 60))
def test_every_sample_counts_once_whichever_levels_answer(tmp_path_factory, first, minutes,
                                                          later):
    """Three hours of ones every 5 s; compaction `later` minutes after; any window of whole
    minutes sums to the number of samples in it, from raw points, minutes or hours."""
    store = MetricsStore(f"sqlite:///{tmp_path_factory.mktemp('m') / 'm.db'}")
    store.record([Sample("cpu", 1.0, T0 + i * 5, {"node": "n1"}) for i in range(3 * 720)])
    store.compact(T0 + 3 * HOUR + later * 60)
    start = T0 + first * 60
    end = min(start + minutes * 60, T0 + 3 * HOUR)
    expected = max(0, int((end - start) // 5))
    found = store.aggregate("cpu", tags={}, start=start, end=end, agg="sum")
    assert (found or 0) == expected
    store.close()
