"""The master's bounded history of completed tasks (Mesos's
--max_completed_tasks_per_framework): an ended task leaves the live registry once its end
is acknowledged, is still answered for while the history holds it, and the store forgets
what the history drops, so a long-running master does not hold every task it ever ran."""

from __future__ import annotations

import pytest

from master import commands as C
from master import events as E
from master.store import MasterStore
from offers.states import TaskState
from tests.master_harness import (
    accept,
    launch,
    make_master,
    of_type,
    offers_for,
    register,
    subscribe,
    updates,
)

ALLOCATE = E.Allocate()


def _run(m, task_id, end=TaskState.FINISHED, ack=True, fid="f1"):
    """Launch `task_id` on a1, run it and end it; acknowledge the end (or not). Returns
    the commands of the end and of its acknowledgement."""
    offer = offers_for(m.handle(ALLOCATE), fid)[0]
    accept(m, [offer.id], launch(task_id), fid=fid)
    m.handle(E.AgentStatus("a1", task_id, TaskState.RUNNING, container_id="c-" + task_id))
    cmds = m.handle(E.AgentStatus("a1", task_id, end))
    (update,) = updates(cmds)
    if ack:
        cmds += m.handle(E.Acknowledge(fid, "a1", task_id, update.uuid))
    return cmds


def _master(**kw):
    m, clock = make_master(**kw)
    register(m)
    subscribe(m)
    return m, clock


def test_an_acknowledged_end_moves_the_task_to_the_history_and_it_is_still_answered_for():
    m, _ = _master()
    _run(m, "t1")
    assert "t1" not in m.tasks
    assert m.task("t1").state is TaskState.FINISHED
    assert [t.id for t in m.completed_tasks("f1")] == ["t1"]
    assert [t.id for t in m.all_tasks()] == ["t1"]
    # Explicit reconciliation and a kill of it answer with how it ended, not "unknown".
    (known,) = updates(m.handle(E.Reconcile("f1", (("t1", "a1"),))))
    assert (known.state, known.uuid) == (TaskState.FINISHED, None)
    (again,) = updates(m.handle(E.Kill("f1", "t1")))
    assert again.state is TaskState.FINISHED
    assert not of_type(m.handle(E.Kill("f1", "t1")), C.KillOnAgent)
    # Its id stays taken while the history holds it.
    offer = offers_for(m.handle(ALLOCATE))[0]
    (refused,) = updates(accept(m, [offer.id], launch("t1")))
    assert "already in use" in refused.message


def test_an_unacknowledged_end_stays_live_and_is_sent_again():
    m, clock = _master(status_retry_seconds=5)
    _run(m, "t1", ack=False)
    assert m.tasks["t1"].state is TaskState.FINISHED
    assert m.completed_tasks("f1") == []
    clock.advance(5)
    assert [u.task_id for u in updates(m.handle(E.Tick()))] == ["t1"]


def test_an_older_acknowledgement_does_not_complete_a_task_whose_end_is_unacknowledged():
    m, _ = _master()
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1"))
    (running,) = updates(m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING)))
    m.handle(E.AgentStatus("a1", "t1", TaskState.FAILED))
    m.handle(E.Acknowledge("f1", "a1", "t1", running.uuid))  # late, and superseded
    assert m.tasks["t1"].state is TaskState.FAILED


def test_the_history_keeps_the_newest_and_the_store_forgets_the_oldest():
    m, _ = _master(max_completed_tasks=2)
    forgotten = []
    for task_id in ("t1", "t2", "t3", "t4"):
        forgotten += [c.task_id for c in of_type(_run(m, task_id), C.ForgetTask)]
    assert forgotten == ["t1", "t2"]
    assert [t.id for t in m.completed_tasks("f1")] == ["t3", "t4"]
    assert m.task("t1") is None
    (unknown,) = updates(m.handle(E.Reconcile("f1", (("t1", "a1"),))))
    assert unknown.state is TaskState.LOST  # as for any task the master does not know


@pytest.mark.parametrize("partition_aware, complete", [(False, True), (True, False)])
def test_a_lost_task_is_complete_unless_its_agent_may_bring_it_back(partition_aware, complete):
    m, clock = make_master(agent_timeout=10)
    register(m)
    subscribe(m, capabilities=["PARTITION_AWARE"] if partition_aware else [])
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1"))
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING))
    clock.advance(11)
    (lost,) = updates(m.handle(E.Tick()))
    m.handle(E.Acknowledge("f1", "a1", "t1", lost.uuid))
    assert ("t1" not in m.tasks) is complete
    # The agent comes back with it: a partition-aware framework gets it back, a plain
    # one never sees a second copy.
    (answer,) = of_type(register(m, running=[E.RunningTask("t1", "f1", "c1")]), C.AgentAccepted)
    assert (answer.keep, answer.kill) == ((), ("t1",)) if complete else (("t1",), ())


def test_a_torn_down_framework_s_ended_tasks_complete_and_its_history_goes_with_it():
    m, _ = _master(max_removed_frameworks=0)
    _run(m, "t1")
    _run(m, "t2", ack=False)
    cmds = m.handle(E.Teardown("f1"))
    assert "t2" not in m.tasks
    # Forgotten at once (no removed framework is kept): its history with it.
    assert sorted(c.task_id for c in of_type(cmds, C.ForgetTask)) == ["t1", "t2"]
    assert m.task("t1") is None and list(m.all_tasks()) == []


def test_a_task_that_ends_after_its_framework_was_torn_down_is_complete_at_once():
    m, _ = _master()
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1"))
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING))
    m.handle(E.Teardown("f1"))
    m.handle(E.AgentStatus("a1", "t1", TaskState.KILLED))
    assert "t1" not in m.tasks
    assert m.task("t1").state is TaskState.KILLED


def test_a_rolled_back_acknowledgement_leaves_the_task_live():
    m, _ = _master()
    cmds = _run(m, "t1", ack=False)
    (update,) = updates(cmds)
    m.begin()
    m.handle(E.Acknowledge("f1", "a1", "t1", update.uuid))
    assert "t1" not in m.tasks
    m.rollback()
    assert m.tasks["t1"].state is TaskState.FINISHED
    assert m.task("t1") is m.tasks["t1"] and m.completed_tasks("f1") == []
    assert [u.task_id for u in m.pending_acks()] == ["t1"]


def test_a_restarted_master_puts_ended_tasks_in_the_history_and_forgets_beyond_it(tmp_path):
    store = MasterStore(f"sqlite:///{tmp_path / 'master.db'}")
    m, _ = make_master()
    store.apply(register(m) + subscribe(m))
    for task_id in ("t1", "t2", "t3"):
        store.apply(_run(m, task_id, ack=False))
    offer = offers_for(m.handle(ALLOCATE))[0]
    store.apply(accept(m, [offer.id], launch("live")))
    assert {row.id for row in store.load().tasks} == {"t1", "t2", "t3", "live"}

    m2, _ = make_master(snapshot=store.load(), max_completed_tasks=2)
    assert set(m2.tasks) == {"live"}
    assert [t.id for t in m2.completed_tasks("f1")] == ["t2", "t3"]  # the newest two
    trims = of_type(m2.handle(E.Tick()), C.ForgetTask)
    assert [c.task_id for c in trims] == ["t1"]
    store.apply(trims)
    assert {row.id for row in store.load().tasks} == {"t2", "t3", "live"}
    assert store.status_history("t1") == []
    assert [s["state"] for s in store.status_history("t2")][-1] == "FINISHED"
    assert of_type(m2.handle(E.Tick()), C.ForgetTask) == []  # said once
    store.close()


def test_a_rolled_back_acknowledgement_keeps_the_history_in_its_order():
    # The acknowledgement completes t3, which drops t1, the oldest: undone, t1 must be
    # the oldest again, or the next completion would drop t2 instead.
    m, _ = _master(max_completed_tasks=2)
    _run(m, "t1")
    _run(m, "t2")
    (update,) = updates(_run(m, "t3", ack=False))
    m.begin()
    forgotten = of_type(m.handle(E.Acknowledge("f1", "a1", "t3", update.uuid)), C.ForgetTask)
    assert [c.task_id for c in forgotten] == ["t1"]
    m.rollback()
    assert [t.id for t in m.completed_tasks("f1")] == ["t1", "t2"]
    cmds = m.handle(E.Acknowledge("f1", "a1", "t3", update.uuid))
    assert [c.task_id for c in of_type(cmds, C.ForgetTask)] == ["t1"]
    assert [t.id for t in m.completed_tasks("f1")] == ["t2", "t3"]
