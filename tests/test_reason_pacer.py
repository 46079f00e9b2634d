"""How often a pending task's new reason goes out on the event stream: its first at once,
later ones at most every `every` seconds with the newest held back and sent when its turn
comes, and nothing held once the task's whole record went out."""

from __future__ import annotations

from framework.process.change_feed import ReasonPacer
from framework.records import TaskRecord
from offers.states import TaskState as S
from offers.task import TaskSpec

SPEC = TaskSpec(id="t", dockerimage="busybox", mem=16, cpus=0.1)


def pending(task_id: str, reason: str, state: S = S.PENDING) -> TaskRecord:
    return TaskRecord(task_id=task_id, submission_id=task_id, spec=SPEC, state=state,
                      created_at=0.0, reason=reason)


def test_a_first_reason_goes_out_at_once_and_later_ones_are_paced():
    pacer = ReasonPacer(every=10.0)
    first = pending("a", "needs 512 cpus [0/1 nodes]")
    assert pacer.due([first], now=0.0) == [first]
    second, third = pending("a", "[0/2 nodes]"), pending("a", "[0/3 nodes]")
    assert pacer.due([second], now=3.0) == []
    assert pacer.due([third], now=4.0) == []
    assert pacer.flush(now=9.9) == []
    assert pacer.flush(now=10.0) == [third]  # the newest, once
    assert pacer.flush(now=30.0) == []
    fourth = pending("a", "[0/4 nodes]")
    assert pacer.due([fourth], now=20.0) == [fourth]  # its turn came: out at once


def test_each_task_is_paced_on_its_own():
    pacer = ReasonPacer(every=10.0)
    assert len(pacer.due([pending("a", "x"), pending("b", "x")], now=0.0)) == 2
    later = pending("c", "y")
    assert pacer.due([pending("a", "z"), later], now=1.0) == [later]


def test_what_went_out_whole_is_not_held_and_a_task_that_left_pending_starts_over():
    pacer = ReasonPacer(every=10.0)
    pacer.due([pending("a", "x")], now=0.0)
    pacer.due([pending("a", "y")], now=1.0)  # held
    pacer.settled([pending("a", "y")])  # its record went out, reason and all
    assert pacer.flush(now=20.0) == []
    pacer.settled([pending("a", "y", state=S.STAGING)])
    again = pending("a", "z")  # pending again (a relaunch): its first reason at once
    assert pacer.due([again], now=21.0) == [again]
