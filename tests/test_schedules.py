"""Schedules' firing decisions, pure: expressions, DST in Europe/Berlin, catch-up,
concurrency, history limits, and the invariants over random tick sequences:

- a firing instant is never started twice, whatever the ticks and restarts;
- with catch_up `all` (and room) every firing instant up to now is started, and with
  `latest` the newest one is;
- with concurrency `forbid` two runs are never active at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.schedules import (
    Run,
    decide,
    firings,
    manual_run_name,
    next_firing,
    run_name,
    schedule_problems,
)
from offers.job import Phase, parse_job
from offers.problems import SpecError
from offers.schedule import Schedule

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args, fold=0) -> float:
    return datetime(*args, tzinfo=BERLIN, fold=fold).timestamp()


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def schedule(cron="* * * * *", **fields) -> Schedule:
    return Schedule(cron=cron, **fields)


def started(decision) -> list[float]:
    return list(decision.start)


# -- expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize("cron, field", [
    ("61 * * * *", "schedule.cron"),
    ("* * * *", "schedule.cron"),
    ("0 0 30 2 *", "schedule.cron"),
    (["0 1 * * *", "bad"], "schedule.cron[1]"),
])
def test_an_expression_cron_cannot_read_is_named(cron, field):
    [problem] = schedule_problems(schedule(cron))
    assert problem.field == field
    assert "is not a cron expression" in problem.problem


def test_an_unknown_time_zone_is_named_by_the_job_parser():
    with pytest.raises(SpecError) as caught:
        parse_job({"name": "n", "type": "batch", "task": {"dockerimage": "x"},
                   "schedule": {"cron": "@daily", "time_zone": "Mars/Olympus"}})
    [problem] = caught.value.problems
    assert problem.field == "schedule.time_zone" and "Mars/Olympus" in problem.problem


def test_shorthands_run_at_the_given_time_of_day():
    assert schedule(["@daily", "@weekly", "@monthly"], at="02:30").expressions() == (
        "30 2 * * *", "30 2 * * 0", "30 2 1 * *")
    assert schedule("@daily").expressions() == ("0 0 * * *",)
    assert schedule_problems(schedule("5 * * * *", at="02:30"))[0].field == "schedule.at"


def test_run_names_carry_the_firing_minute_in_utc():
    assert run_name("nightly", utc(2026, 3, 29, 1, 0)) == "nightly-20260329T0100Z"
    assert manual_run_name("nightly", utc(2026, 3, 29, 1, 0, 7)) == \
        "nightly-20260329T010007Z-manual"


# -- daylight saving time (Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 ->
# 02:00) --------------------------------------------------------------------------------


def _ticked(s: Schedule, start: float, end: float, step: float) -> list[float]:
    """Every firing started by ticking every `step` seconds from `start` to `end`."""
    since, out, now = start, [], start
    while now <= end:
        decision = decide(s, since, now, [])
        out += started(decision)
        since = decision.last_firing or since
        now += step
    return out


def test_a_fall_back_does_not_fire_a_daily_job_twice():
    s = schedule("30 2 * * *", time_zone="Europe/Berlin")
    fired = _ticked(s, berlin(2026, 10, 24, 12), berlin(2026, 10, 26, 12), 60)
    assert fired == [berlin(2026, 10, 25, 2, 30), berlin(2026, 10, 26, 2, 30)]


def test_a_spring_forward_gap_does_not_lose_a_daily_job():
    s = schedule("30 2 * * *", time_zone="Europe/Berlin")
    fired = _ticked(s, berlin(2026, 3, 28, 12), berlin(2026, 3, 30, 12), 60)
    # 02:30 does not exist on the 29th: it runs at 03:00 (the first minute after the gap)
    assert fired == [berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 30, 2, 30)]


def test_an_interval_job_fires_at_every_real_instant_across_a_fall_back():
    s = schedule("0,30 * * * *", time_zone="Europe/Berlin")
    fired = _ticked(s, berlin(2026, 10, 25, 1, 45), berlin(2026, 10, 25, 3, 15), 60)
    assert [f - fired[0] for f in fired] == [0, 1800, 3600, 5400, 7200]  # 02:00 twice


def test_a_restart_inside_the_repeated_hour_does_not_fire_again():
    s = schedule("30 2 * * *", time_zone="Europe/Berlin", catch_up="all")
    first = berlin(2026, 10, 25, 2, 30)
    # berth stops right after the first 02:30 and comes back during the second one
    decision = decide(s, first, berlin(2026, 10, 25, 2, 45, fold=1), [])
    assert decision.start == () and decision.last_firing is None


def test_next_firing_is_the_first_after():
    s = schedule("30 2 * * *", time_zone="Europe/Berlin")
    assert next_firing(s, berlin(2026, 3, 28, 12)) == berlin(2026, 3, 29, 3, 0)
    assert next_firing(s, berlin(2026, 10, 25, 2, 30)) == berlin(2026, 10, 26, 2, 30)


# -- catch-up, concurrency, history ----------------------------------------------------------


def test_catch_up_none_skips_what_was_missed_by_more_than_the_deadline():
    s = schedule("0 * * * *", catch_up="none", starting_deadline=60)
    decision = decide(s, utc(2026, 5, 1, 9, 0), utc(2026, 5, 1, 12, 30), [])
    assert decision.start == () and decision.last_firing == utc(2026, 5, 1, 12, 0)
    assert len(decision.skipped) == 3
    assert started(decide(s, utc(2026, 5, 1, 9, 0), utc(2026, 5, 1, 12, 0, 30), [])) == [
        utc(2026, 5, 1, 12, 0)]


def test_catch_up_latest_runs_the_newest_missed_firing_once():
    s = schedule("0 * * * *", catch_up="latest")
    decision = decide(s, utc(2026, 5, 1, 9, 0), utc(2026, 5, 1, 12, 30), [])
    assert started(decision) == [utc(2026, 5, 1, 12, 0)]
    again = decide(s, decision.last_firing, utc(2026, 5, 1, 12, 31), [])
    assert again.start == () and not again.changes


def test_catch_up_all_runs_the_missed_firings_up_to_the_limit():
    s = schedule("0 * * * *", catch_up="all", catch_up_limit=2)
    decision = decide(s, utc(2026, 5, 1, 9, 0), utc(2026, 5, 1, 12, 30), [])
    assert started(decision) == [utc(2026, 5, 1, 11, 0), utc(2026, 5, 1, 12, 0)]


def test_forbid_skips_a_firing_while_a_run_is_active_and_replace_stops_it():
    active = [Run("j-1", utc(2026, 5, 1, 11, 0), Phase.RUNNING)]
    since, now = utc(2026, 5, 1, 11, 0), utc(2026, 5, 1, 12, 0, 5)
    forbid = decide(schedule("0 * * * *", concurrency="forbid"), since, now, active)
    assert forbid.start == () and forbid.last_firing == utc(2026, 5, 1, 12, 0)
    replace = decide(schedule("0 * * * *", concurrency="replace"), since, now, active)
    assert replace.stop == ("j-1",) and started(replace) == [utc(2026, 5, 1, 12, 0)]
    allow = decide(schedule("0 * * * *"), since, now, active)
    assert allow.stop == () and started(allow) == [utc(2026, 5, 1, 12, 0)]


def test_history_keeps_the_newest_succeeded_and_failed_runs():
    runs = [Run(f"ok{i}", float(i), Phase.COMPLETE) for i in range(5)] + [
        Run(f"bad{i}", float(i), Phase.FAILED) for i in range(3)] + [
        Run("stopped", 9.0, Phase.STOPPED), Run("live", 1.0, Phase.RUNNING)]
    decision = decide(schedule("0 0 1 1 *"), 10.0, 11.0, runs)
    assert set(decision.forget) == {"ok0", "ok1", "bad0", "bad1", "bad2"}
    custom = decide(schedule("0 0 1 1 *", successful_runs_history=0, failed_runs_history=3),
                    10.0, 11.0, runs)
    assert set(custom.forget) == {f"ok{i}" for i in range(5)} | {"bad0"}  # 4 failed


# -- invariants over random ticks ---------------------------------------------------------

EXPRESSIONS = ["* * * * *", "*/7 * * * *", "30 2 * * *", "0,30 1-3 * * *", "15 */2 * * *",
               "0 3 * * 0"]
ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"]
DST_WINDOWS = [berlin(2026, 3, 28, 22), berlin(2026, 10, 24, 22), utc(2026, 11, 1, 3),
               utc(2026, 4, 4, 14)]


def _all_firings(s: Schedule, after: float, until: float) -> list[float]:
    """Every firing instant in (after, until], reckoned once over the whole span (the
    process under test reckons it in pieces, from where each tick left off)."""
    return firings(s, after, until, 10**6)


def test_next_firing_keeps_the_time_just_after_a_half_hour_fall_back():
    """Lord Howe Island goes back 30 minutes at 02:00 on 5 April 2026; 02:15 then comes
    once, at 15:45 UTC (cronsim's forward step alone jumps to 04:15)."""
    s = schedule("15 */2 * * *", time_zone="Australia/Lord_Howe")
    assert next_firing(s, utc(2026, 4, 4, 14)) == utc(2026, 4, 4, 15, 45)
    assert firings(s, utc(2026, 4, 4, 14), utc(2026, 4, 4, 18), 10) == [
        utc(2026, 4, 4, 15, 45), utc(2026, 4, 4, 17, 45)]


ticks = st.lists(st.floats(min_value=1, max_value=5400, allow_nan=False), min_size=1,
                 max_size=60)


@settings(max_examples=150, deadline=None)
@given(expression=st.sampled_from(EXPRESSIONS), zone=st.sampled_from(ZONES),
       start=st.sampled_from(DST_WINDOWS), gaps=ticks,
       catch_up=st.sampled_from(["none", "latest", "all"]))
def test_a_firing_is_never_started_twice_and_never_skipped_with_catch_up(
        expression, zone, start, gaps, catch_up):
    s = schedule(expression, time_zone=zone, catch_up=catch_up, catch_up_limit=1000)
    since, now, fired = start, start, []
    for gap in gaps:  # a long gap is berth being down: the state is what was persisted
        now += gap
        decision = decide(s, since, now, [])
        assert all(since < t <= now for t in decision.start)
        fired += started(decision)
        since = decision.last_firing or since
        assert since <= now
    assert len(fired) == len(set(fired))  # never twice for one firing time
    due = _all_firings(s, start, now)
    if catch_up == "all":
        assert fired == due  # none skipped
    elif catch_up == "latest" and due:
        assert fired[-1] == due[-1]  # the newest always runs
    assert set(fired) <= set(due)


@settings(max_examples=150, deadline=None)
@given(expression=st.sampled_from(EXPRESSIONS[:2] + EXPRESSIONS[3:4]),
       zone=st.sampled_from(ZONES), start=st.sampled_from(DST_WINDOWS),
       gaps=st.lists(st.floats(min_value=1, max_value=900), min_size=1, max_size=80),
       durations=st.lists(st.floats(min_value=0, max_value=3600), min_size=1),
       catch_up=st.sampled_from(["none", "latest", "all"]))
def test_forbid_never_lets_two_runs_overlap(expression, zone, start, gaps, durations,
                                           catch_up):
    s = schedule(expression, time_zone=zone, concurrency="forbid", catch_up=catch_up)
    since, now = start, start
    ends: dict[str, float] = {}  # run name -> when it ends
    for i, gap in enumerate(gaps):
        now += gap
        runs = [Run(name, 0.0, Phase.COMPLETE if end <= now else Phase.RUNNING)
                for name, end in ends.items()]
        decision = decide(s, since, now, runs)
        assert len(decision.start) <= 1
        for firing in decision.start:
            assert all(end <= now for end in ends.values())  # nothing active
            ends[run_name("j", firing)] = now + durations[i % len(durations)]
        since = decision.last_firing or since
