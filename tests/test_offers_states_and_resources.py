"""The task state table and port-range parsing."""

import pytest

from offers.resources import format_port_ranges, parse_port_ranges
from offers.states import ALLOWED, TERMINAL, IllegalTransition, TaskState, check_transition


@pytest.mark.parametrize(("old", "new"), [
    (TaskState.PENDING, TaskState.STAGING),
    (TaskState.STAGING, TaskState.STARTING),
    (TaskState.STARTING, TaskState.RUNNING),
    (TaskState.RUNNING, TaskState.KILLING),
    (TaskState.KILLING, TaskState.KILLED),
    (TaskState.RUNNING, TaskState.LOST),
    (TaskState.LOST, TaskState.RUNNING),
    (TaskState.STARTING, TaskState.ERROR),
    (TaskState.RUNNING, TaskState.RUNNING),
])
def test_allowed_transitions(old, new):
    assert check_transition(old, new) is new


@pytest.mark.parametrize(("old", "new"), [
    (TaskState.FINISHED, TaskState.RUNNING),
    (TaskState.KILLED, TaskState.RUNNING),
    (TaskState.PENDING, TaskState.RUNNING),
    (TaskState.RUNNING, TaskState.PENDING),
    (TaskState.ERROR, TaskState.STAGING),
])
def test_anything_else_raises(old, new):
    with pytest.raises(IllegalTransition, match=f"{old} -> {new}"):
        check_transition(old, new)


def test_terminal_states_lead_nowhere():
    assert all(not ALLOWED[s] for s in TERMINAL - {TaskState.LOST})
    assert all(s.terminal for s in TERMINAL)


@pytest.mark.parametrize(("text", "ranges"), [
    ("31000-32000", ((31000, 32000),)),
    ("[31000-31499]", ((31000, 31499),)),
    ("33000,31000-31010", ((31000, 31010), (33000, 33000))),
    ([[31000, 31001]], ((31000, 31001),)),
    ([["31000", 31001.0]], ((31000, 31001),)),
])
def test_port_ranges_parse(text, ranges):
    assert parse_port_ranges(text) == ranges
    assert parse_port_ranges(format_port_ranges(ranges)) == ranges


@pytest.mark.parametrize("text", [
    "0-10", "31000-30000", "abc", "70000",
    # Any JSON an agent sends is a ValueError, never another exception (it was a 500):
    7, True, {"a": 1}, [[1.5, 2]], [[None, 2]], [[True, 2]], [["x", 2]], [[{}, 2]]])
def test_bad_port_ranges_are_refused(text):
    with pytest.raises(ValueError):
        parse_port_ranges(text)
