"""The master core in memory: offers, accepts, filters, fairness, loss, reconciliation."""

from __future__ import annotations

import dataclasses

import pytest

from master import commands as C
from master import events as E
from master.records import Snapshot
from offers.states import TaskState
from tests.master_harness import (
    accept,
    launch,
    make_master,
    of_type,
    offers_for,
    register,
    res,
    subscribe,
    updates,
)

ALLOCATE = E.Allocate()


def test_an_agent_spare_is_offered_to_a_subscribed_framework():
    m, _ = make_master()
    register(m)
    cmds = subscribe(m)
    assert of_type(cmds, C.SendSubscribed)[0].framework_id == "f1"
    offers = offers_for(m.handle(ALLOCATE), "f1")
    assert len(offers) == 1
    assert offers[0].resources == res(4, 4096, 1000, "31000-31009")
    assert offers[0].attributes == {"nodetype": "lab"}
    # Nothing new to offer: no second offer of the same resources.
    assert offers_for(m.handle(ALLOCATE)) == []


def test_accept_launches_and_the_rest_is_offered_again():
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    cmds = accept(m, [offer.id], launch("t1", cpus=1, mem=1024, host_ports=(31000,)))
    spec = of_type(cmds, C.LaunchOnAgent)[0]
    assert (spec.agent_id, spec.spec.task_id) == ("a1", "t1")
    assert m.tasks["t1"].state is TaskState.STAGING
    assert of_type(cmds, C.SaveTask)
    rest = offers_for(m.handle(ALLOCATE))[0]
    assert rest.resources == res(3, 3072, 1000, "31001-31009")


def test_a_stale_capacity_report_does_not_offer_a_launched_task_twice():
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1", cpus=3, mem=1024))
    # The agent had not seen the launch yet: it still reports everything spare.
    m.handle(E.AgentCapacity("a1", res(4, 4096, 1000, "31000-31009"),
                             res(4, 4096, 1000, "31000-31009")))
    assert offers_for(m.handle(ALLOCATE))[0].resources.cpus == pytest.approx(1)
    # Once it reported the task and then its capacity, its own numbers count.
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    m.handle(E.AgentCapacity("a1", res(4, 4096, 1000, "31000-31009"),
                             res(1, 3072, 1000, "31000-31009")))
    assert m.tasks["t1"].counted_by_agent


@pytest.mark.parametrize("case, offer_ids, task, reason, state", [
    ("unknown offer", ["nope"], dict(cpus=1), "REASON_INVALID_OFFERS", TaskState.LOST),
    ("too big", None, dict(cpus=8), "REASON_TASK_INVALID", TaskState.ERROR),
    ("port not offered", None, dict(cpus=1, host_ports=(40000,)), "REASON_TASK_INVALID",
     TaskState.ERROR),
    ("wrong agent", None, dict(cpus=1, agent_id="a9"), "REASON_TASK_INVALID", TaskState.ERROR),
])
def test_launches_that_cannot_run_come_back_as_updates(case, offer_ids, task, reason, state):
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    cmds = accept(m, offer_ids or [offer.id], launch("t1", **task))
    (update,) = updates(cmds)
    assert (update.state, update.reason) == (state, reason), case
    assert update.uuid and update.message
    assert not of_type(cmds, C.LaunchOnAgent)
    assert "t1" not in m.tasks


def test_duplicate_task_id_is_refused():
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    cmds = accept(m, [offer.id], launch("t1"), launch("t1"))
    assert len(of_type(cmds, C.LaunchOnAgent)) == 1
    assert "already in use" in updates(cmds)[0].message


def test_decline_filter_holds_for_refuse_seconds_then_expires():
    m, clock = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    m.handle(E.Decline("f1", (offer.id,), 20.0))
    assert offers_for(m.handle(ALLOCATE)) == []
    clock.advance(19)
    m.handle(E.Tick())
    assert offers_for(m.handle(ALLOCATE)) == []
    clock.advance(1)
    m.handle(E.Tick())
    assert len(offers_for(m.handle(ALLOCATE))) == 1


def test_a_filter_renewed_before_it_lifts_holds_until_the_later_time():
    m, clock = make_master()
    m.handle(E.AgentRegister("a1", "host-a1", total=res(8, 8192), spare=res(4, 4096)))
    subscribe(m)
    first = offers_for(m.handle(ALLOCATE))[0]
    m.handle(E.AgentCapacity("a1", res(8, 8192), res(8, 8192)))  # the rest, a second offer
    second = offers_for(m.handle(ALLOCATE))[0]
    m.handle(E.Decline("f1", (first.id,), 20.0))
    m.handle(E.Decline("f1", (second.id,), 50.0))  # the same agent: its filter is renewed
    clock.advance(20)
    m.handle(E.Tick())
    assert offers_for(m.handle(ALLOCATE)) == []
    clock.advance(30)
    m.handle(E.Tick())
    assert offers_for(m.handle(ALLOCATE))[0].resources == res(8, 8192)


def test_a_filter_lifts_early_when_a_task_on_the_agent_ends():
    """Resources a task gives back are offered at once (Mesos's filter holds back only
    what was refused); the agent's measured spare moving does not lift the filter."""
    m, clock = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1", cpus=1, mem=1024), refuse_seconds=60)
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    assert offers_for(m.handle(ALLOCATE)) == []
    # The node's own programs use less, and then more: the filter holds either way.
    for spare in (res(3, 3072, 1000, "31000-31009"), res(2, 2048, 1000, "31000-31009")):
        m.handle(E.AgentCapacity("a1", res(4, 4096, 1000, "31000-31009"), spare))
        assert offers_for(m.handle(ALLOCATE)) == []
    clock.advance(10)
    m.handle(E.Tick())
    # The task ends: what it held comes back, and the agent is offered 50 s early.
    m.handle(E.AgentStatus("a1", "t1", TaskState.FINISHED, container_id="c1"))
    m.handle(E.AgentCapacity("a1", res(4, 4096, 1000, "31000-31009"),
                             res(4, 4096, 1000, "31000-31009")))
    (again,) = offers_for(m.handle(ALLOCATE))
    assert again.resources == res(4, 4096, 1000, "31000-31009")


def test_the_agents_of_one_decline_are_offered_again_together():
    m, clock = make_master()
    for agent_id in ("a1", "a2", "a3"):
        register(m, agent_id)
    subscribe(m)
    offers = offers_for(m.handle(ALLOCATE))
    m.handle(E.Decline("f1", tuple(o.id for o in offers), 20.0))
    clock.advance(20)
    m.handle(E.Tick())
    assert sorted(o.agent_id for o in offers_for(m.handle(ALLOCATE))) == ["a1", "a2", "a3"]


def test_a_filter_that_lapsed_before_the_next_allocation_does_not_hold_it_back():
    m, clock = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    m.handle(E.Decline("f1", (offer.id,), 5.0))
    clock.advance(5)  # no Tick: the filter is still there, but no longer holds
    assert len(offers_for(m.handle(ALLOCATE))) == 1


def test_an_agent_declined_by_a_framework_that_then_left_goes_to_the_other():
    m, _ = make_master()
    register(m)
    subscribe(m, "f1")
    subscribe(m, "f2")
    offer = offers_for(m.handle(ALLOCATE))[0]
    other = "f2" if offer.framework_id == "f1" else "f1"
    m.handle(E.Decline(offer.framework_id, (offer.id,), 100.0))
    assert m.wants_allocation
    m.handle(E.StreamClosed(offer.framework_id, f"s-{offer.framework_id}"))
    assert [o.framework_id for o in offers_for(m.handle(ALLOCATE))] == [other]


def test_records_made_without_their_init_hold_exactly_their_fields():
    """The core makes its most frequent records and commands with `records.make`, not
    `__init__`: each must still hold every field of its class, and nothing else."""
    m, _ = make_master()
    register(m)
    subscribe(m, capabilities=("TASK_KILLING_STATE",))
    offer = offers_for(m.handle(ALLOCATE))[0]
    cmds = accept(m, [offer.id], launch("t1"), launch("t2"))
    cmds += m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    cmds += m.handle(E.AgentCapacity("a1", res(4, 4096), res(3, 3584)))
    cmds += m.handle(E.AgentStatus("a1", "t1", TaskState.FAILED, exit_code=2))
    cmds += m.handle(E.Kill("f1", "t2"))
    for made in [*cmds, *m.tasks.values(), *m.agents.values()]:
        assert set(vars(made)) == {f.name for f in dataclasses.fields(made)}, made
        for f in dataclasses.fields(made):
            value = getattr(made, f.name)
            if dataclasses.is_dataclass(value):
                assert set(vars(value)) == {g.name for g in dataclasses.fields(value)}, value


def test_a_declined_agent_goes_to_the_other_framework_and_revive_clears_filters():
    m, _ = make_master()
    register(m)
    subscribe(m, "f1")
    offer = offers_for(m.handle(ALLOCATE))[0]
    subscribe(m, "f2")
    m.handle(E.Decline(offer.framework_id, (offer.id,), 100.0))
    other = offers_for(m.handle(ALLOCATE))
    assert [o.framework_id for o in other] == ["f2" if offer.framework_id == "f1" else "f1"]
    m.handle(E.Decline(other[0].framework_id, (other[0].id,), 100.0))
    assert offers_for(m.handle(ALLOCATE)) == []
    m.handle(E.Revive(offer.framework_id))
    assert [o.framework_id for o in offers_for(m.handle(ALLOCATE))] == [offer.framework_id]


def test_suppress_stops_offers_until_revive():
    m, _ = make_master()
    subscribe(m)
    m.handle(E.Suppress("f1"))
    register(m)
    assert offers_for(m.handle(ALLOCATE)) == []
    m.handle(E.Revive("f1"))
    assert len(offers_for(m.handle(ALLOCATE))) == 1


def test_drf_offers_the_next_agent_to_the_framework_with_the_lower_dominant_share():
    m, _ = make_master()
    register(m, "a1", disk=0)
    subscribe(m, "f1")
    subscribe(m, "f2")
    first = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [first.id], launch("big", cpus=4, mem=4000, framework_id=first.framework_id),
           fid=first.framework_id, refuse_seconds=100)
    register(m, "a2", disk=0)
    second = offers_for(m.handle(ALLOCATE))
    by_agent = {o.agent_id: o.framework_id for o in second}
    other = "f2" if first.framework_id == "f1" else "f1"
    # The one with the lower dominant share gets the free agent.
    assert by_agent["a2"] == other


def test_offers_expire_after_offer_timeout_and_are_rescinded():
    m, clock = make_master(offer_timeout=30)
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    clock.advance(30)
    cmds = m.handle(E.Tick())
    assert [c.offer_id for c in of_type(cmds, C.SendRescind)] == [offer.id]
    again = offers_for(m.handle(ALLOCATE))
    assert len(again) == 1 and again[0].id != offer.id


def test_an_agent_that_shrinks_below_its_offers_has_them_rescinded():
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    cmds = m.handle(E.AgentCapacity("a1", res(4, 4096, 1000, "31000-31009"),
                                    res(1, 4096, 1000, "31000-31009")))
    assert [c.offer_id for c in of_type(cmds, C.SendRescind)] == [offer.id]
    assert offers_for(m.handle(ALLOCATE))[0].resources.cpus == pytest.approx(1)


def _running_task(m, task_id="t1", **kw):
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch(task_id, **kw))
    return m.handle(E.AgentStatus("a1", task_id, TaskState.RUNNING, container_id="c1"))


def test_agent_loss_makes_tasks_lost_sends_failure_and_rescinds():
    m, clock = make_master(agent_timeout=10)
    register(m)
    subscribe(m)
    _running_task(m)
    spare_offer = offers_for(m.handle(ALLOCATE))[0]
    clock.advance(9.9)
    assert updates(m.handle(E.Tick())) == []
    clock.advance(0.1)
    cmds = m.handle(E.Tick())
    (lost,) = updates(cmds)
    assert (lost.task_id, lost.state, lost.reason) == ("t1", TaskState.LOST,
                                                       "REASON_AGENT_REMOVED")
    assert "no message for 10.0s" in lost.message
    assert [c.agent_id for c in of_type(cmds, C.SendFailure)] == ["a1"]
    assert [c.offer_id for c in of_type(cmds, C.SendRescind)] == [spare_offer.id]
    assert m.agents["a1"].lost
    # A lost agent must register again before anything it says counts.
    assert of_type(m.handle(E.AgentHeartbeat("a1")), C.AgentRejected)
    assert offers_for(m.handle(ALLOCATE)) == []


@pytest.mark.parametrize("case, partition_aware, lose_first, reported, keep, kill, state", [
    ("running task kept", False, False, "t1", ["t1"], [], TaskState.RUNNING),
    ("unknown container killed", False, False, "zz", [], ["zz"], TaskState.LOST),
    ("lost task killed for a plain framework", False, True, "t1", [], ["t1"], TaskState.LOST),
    ("lost task back to RUNNING if partition-aware", True, True, "t1", ["t1"], [],
     TaskState.RUNNING),
])
def test_reregistration_keeps_or_kills_so_no_task_runs_twice(
        case, partition_aware, lose_first, reported, keep, kill, state):
    m, clock = make_master(agent_timeout=10)
    register(m)
    subscribe(m, capabilities=["PARTITION_AWARE"] if partition_aware else [])
    _running_task(m)
    if lose_first:
        clock.advance(11)
        m.handle(E.Tick())
    cmds = register(m, running=[E.RunningTask(reported, "f1", "c1")])
    (answer,) = of_type(cmds, C.AgentAccepted)
    assert (list(answer.keep), list(answer.kill)) == (keep, kill), case
    assert m.tasks["t1"].state is state, case


def test_status_updates_are_resent_until_acknowledged():
    m, clock = make_master(status_retry_seconds=5)
    register(m)
    subscribe(m)
    (update,) = updates(_running_task(m))
    assert update.uuid
    clock.advance(5)
    assert [u.uuid for u in updates(m.handle(E.Tick()))] == [update.uuid]
    m.handle(E.Acknowledge("f1", "a1", "t1", update.uuid))
    clock.advance(60)
    assert updates(m.handle(E.Tick())) == []
    # A re-subscribing framework gets its unacked updates at once.
    _running_task(m, "t2")
    assert [u.task_id for u in updates(subscribe(m))] == ["t2"]


def test_reconcile_implicit_and_explicit():
    m, _ = make_master()
    register(m)
    subscribe(m)
    _running_task(m)
    implicit = updates(m.handle(E.Reconcile("f1")))
    assert [(u.task_id, u.state, u.uuid) for u in implicit] == [("t1", TaskState.RUNNING, None)]
    explicit = updates(m.handle(E.Reconcile("f1", (("t1", "a1"), ("ghost", None)))))
    assert [(u.task_id, u.state) for u in explicit] == [("t1", TaskState.RUNNING),
                                                        ("ghost", TaskState.LOST)]


def test_kill_sends_kill_to_the_agent_and_killed_is_reported():
    m, _ = make_master()
    register(m)
    subscribe(m, capabilities=["TASK_KILLING_STATE"])
    _running_task(m)
    cmds = m.handle(E.Kill("f1", "t1"))
    assert [(c.agent_id, c.task_id) for c in of_type(cmds, C.KillOnAgent)] == [("a1", "t1")]
    assert [u.state for u in updates(cmds)] == [TaskState.KILLING]
    done = m.handle(E.AgentStatus("a1", "t1", TaskState.KILLED, reason="killed by berth"))
    assert [u.state for u in updates(done)] == [TaskState.KILLED]


def test_teardown_kills_the_frameworks_tasks_and_ends_its_stream():
    m, _ = make_master()
    register(m)
    subscribe(m)
    _running_task(m)
    cmds = m.handle(E.Teardown("f1"))
    assert [c.task_id for c in of_type(cmds, C.KillOnAgent)] == ["t1"]
    assert of_type(cmds, C.CloseStream)
    assert m.frameworks["f1"].removed
    assert m.check_call("f1", "s-f1") == (403, "framework f1 is not subscribed")
    assert offers_for(m.handle(ALLOCATE)) == []


def test_calls_need_the_current_stream_id():
    m, _ = make_master()
    subscribe(m)
    assert m.check_call("f1", "s-f1") is None
    assert m.check_call("f1", None)[0] == 400
    assert m.check_call("f1", "other")[0] == 400
    assert m.check_call("nobody", "s")[0] == 403


def test_a_restarted_master_remembers_agents_frameworks_and_tasks():
    m, _ = make_master()
    register(m)
    subscribe(m)
    _running_task(m)
    snap = Snapshot(tuple(m.agents.values()), tuple(m.frameworks.values()),
                    tuple(m.tasks.values()))
    m2, _ = make_master(snapshot=snap)
    assert m2.tasks["t1"].state is TaskState.RUNNING
    assert not m2.frameworks["f1"].active
    cmds = register(m2, running=[E.RunningTask("t1", "f1", "c1")])
    assert of_type(cmds, C.AgentAccepted)[0].keep == ("t1",)
    subscribe(m2)
    offer = offers_for(m2.handle(ALLOCATE))[0]
    assert offer.resources.cpus == pytest.approx(3)


@pytest.mark.parametrize("state, reason, exit_code, want_reason, want_in_message", [
    (TaskState.ERROR, "image berth/nope:latest not found", None,
     "REASON_CONTAINER_LAUNCH_FAILED", "image berth/nope:latest not found"),
    (TaskState.FAILED, None, 3, "REASON_COMMAND_EXECUTOR_FAILED", "exit code 3"),
    (TaskState.FINISHED, None, 0, None, None),
])
def test_agent_statuses_reach_the_framework_with_a_reason(state, reason, exit_code,
                                                          want_reason, want_in_message):
    m, _ = make_master()
    register(m)
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1"))
    (update,) = updates(m.handle(E.AgentStatus("a1", "t1", state, reason=reason,
                                               exit_code=exit_code)))
    assert (update.state, update.reason) == (state, want_reason)
    if want_in_message:
        assert want_in_message in update.message
    assert m.tasks["t1"].exit_code == exit_code
    assert m.used("a1").cpus == 0  # a finished task's resources are free again


def test_a_framework_gone_longer_than_its_failover_timeout_is_torn_down():
    m, clock = make_master()
    register(m)
    m.handle(E.Subscribe("s1", "f1", info={"failover_timeout": 30}))
    _running_task(m)
    m.handle(E.StreamClosed("f1", "s1"))
    clock.advance(29)
    assert not of_type(m.handle(E.Tick()), C.KillOnAgent)
    clock.advance(1)
    cmds = m.handle(E.Tick())
    assert [c.task_id for c in of_type(cmds, C.KillOnAgent)] == ["t1"]
    assert m.frameworks["f1"].removed


def test_without_a_failover_timeout_a_framework_is_waited_for():
    m, clock = make_master()
    subscribe(m)
    m.handle(E.StreamClosed("f1", "s-f1"))
    clock.advance(10**6)
    m.handle(E.Tick())
    assert not m.frameworks["f1"].removed
    assert of_type(subscribe(m), C.SendSubscribed)



def test_a_new_agent_at_the_address_of_a_silent_one_replaces_it():
    """A node restarted and its agent registered under a new id before the old one timed
    out: the old agent is lost at once (its tasks LOST, the framework told), as Mesos
    removes an agent when another registers at its address, and one host is offered once."""
    m, _ = make_master()
    register(m, "a1")
    subscribe(m)
    offer = offers_for(m.handle(ALLOCATE))[0]
    accept(m, [offer.id], launch("t1", cpus=1, mem=1024))
    again = E.AgentRegister("a2", "host-a1", "http://a1:5051", total=res(4, 4096),
                            spare=res(4, 4096))
    cmds = m.handle(again)
    assert m.agents["a1"].lost and not m.agents["a2"].lost
    assert [c.agent_id for c in of_type(cmds, C.SendFailure)] == ["a1"]
    (lost,) = [u for u in updates(cmds) if u.task_id == "t1"]
    assert lost.state is TaskState.LOST and "new agent (a2)" in lost.message
    assert [o.agent_id for o in offers_for(m.handle(ALLOCATE))] == ["a2"]
    # The same agent registering again is not a new one: nothing is lost.
    cmds = m.handle(again)
    assert not m.agents["a2"].lost and not of_type(cmds, C.SendFailure)
    # A second agent under that hostname at another address is refused, naming the field.
    (refused,) = m.handle(E.AgentRegister(None, "host-a1", "http://a1:5052",
                                          total=res(4, 4096), spare=res(4, 4096)))
    assert isinstance(refused, C.AgentRejected)
    assert refused.field == "hostname"
    assert refused.reason.startswith("'host-a1' is registered by agent a2")
    assert [a.id for a in m.live_agents()] == ["a2"]
