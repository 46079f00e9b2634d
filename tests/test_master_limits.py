"""The master core without I/O: an event taken back leaves no trace, frameworks without
failover go with their stream, and neither live nor removed frameworks grow without bound."""

from __future__ import annotations

import pytest

from master import commands as C
from master import events as E
from master.core import Master
from master.records import Snapshot
from master.store import MasterStore
from offers.states import TaskState
from tests.master_harness import (
    PausedClock,
    accept,
    launch,
    make_master,
    of_type,
    offers_for,
    register,
    subscribe,
)


def _view(m: Master) -> tuple:
    """Everything the core knows, the indexes kept for speed included."""
    held = {fid: tuple(round(x, 6) for x in (m.held(fid).cpus, m.held(fid).mem,
                                              m.held(fid).disk)) for fid in m.frameworks}
    return (dict(m.agents), dict(m.frameworks), dict(m.tasks), dict(m.offers),
            {fid: dict(refused) for fid, refused in m._refuse_until.items()},
            dict(m._unacked), dict(m._latest_uuid), dict(m._removed),
            dict(m._on_host),
            {a: set(t) for a, t in m._tasks_on.items() if t},
            {a: set(o) for a, o in m._offers_on.items() if o},
            {a: set(t) for a, t in m._uncounted_on.items() if t},
            held, m._cluster_total(), {a: m.offerable(a) for a in m.agents})


def _busy_master() -> tuple[Master, PausedClock, str]:
    """Two agents, two frameworks, tasks running and staging, an offer out, a filter set."""
    m, clock = make_master()
    register(m, "a1")
    register(m, "a2")
    subscribe(m, "f1")
    offers = offers_for(m.handle(E.Allocate()))
    first = next(o for o in offers if o.agent_id == "a1")
    accept(m, [first.id], launch("t1"), launch("t2", cpus=0.5), refuse_seconds=30)
    m.handle(E.AgentStatus("a1", "t1", TaskState.RUNNING, container_id="c1"))
    subscribe(m, "f2")
    m.handle(E.Allocate())
    outstanding = next(iter(m.offers))
    return m, clock, outstanding


EVENTS = {
    "accept": lambda m, offer: E.Accept(m.offers[offer].framework_id, (offer,), (
        launch("t9", agent_id=m.offers[offer].agent_id,
               framework_id=m.offers[offer].framework_id),
        E.RefusedLaunch("bad", None, "cpus: must be greater than 0"))),
    "decline": lambda m, offer: E.Decline(m.offers[offer].framework_id, (offer,), 60.0),
    "status running": lambda m, offer: E.AgentStatus("a1", "t2", TaskState.RUNNING),
    "status failed": lambda m, offer: E.AgentStatus("a1", "t1", TaskState.FAILED, exit_code=3),
    "kill": lambda m, offer: E.Kill("f1", "t1"),
    "register again": lambda m, offer: E.AgentRegister("a1", "host-a1"),
    "new agent": lambda m, offer: E.AgentRegister(None, "host-new"),
    "teardown": lambda m, offer: E.Teardown("f1"),
    "stream closed": lambda m, offer: E.StreamClosed("f2", "s-f2"),
    "new framework": lambda m, offer: E.Subscribe("s-new", None, info={"failover_timeout": 0}),
    "acknowledge": lambda m, offer: E.Acknowledge(
        "f1", "a1", "t1", next(iter(m._unacked))),
    "tick losing an agent": "tick",
}


@pytest.mark.parametrize("case", sorted(EVENTS))
def test_a_rolled_back_event_leaves_the_core_as_it_was(case):
    m, clock, offer = _busy_master()
    if EVENTS[case] == "tick":
        clock.advance(10_000)  # every agent silent for longer than agent_timeout
        event = E.Tick()
    else:
        event = EVENTS[case](m, offer)
    before = _view(m)
    m.begin()
    cmds = m.handle(event)
    assert cmds or case in ("decline", "acknowledge"), "the event must do something"
    assert _view(m) != before or case == "acknowledge"
    m.rollback()
    assert _view(m) == before
    # And the core goes on from there as if the event had never come.
    m.begin()
    assert type(m.handle(event)) is list
    m.commit()


def test_a_framework_without_failover_is_removed_when_its_stream_closes():
    m, _ = make_master()
    register(m)
    m.handle(E.Subscribe("s1", "f1", info={"failover_timeout": 0}))
    offer = offers_for(m.handle(E.Allocate()))[0]
    accept(m, [offer.id], launch("t1"))
    cmds = m.handle(E.StreamClosed("f1", "s1"))
    assert [c.task_id for c in of_type(cmds, C.KillOnAgent)] == ["t1"]
    assert m.frameworks["f1"].removed
    assert of_type(cmds, C.SaveFramework)[-1].framework.removed


def test_after_a_restart_a_framework_without_failover_gets_time_to_come_back():
    m, clock = make_master(reregister_seconds=60)
    m.handle(E.Subscribe("s1", "f1", info={"failover_timeout": 0}))
    m2 = Master(clock, reregister_seconds=60, snapshot=_snapshot_of(m))
    clock.advance(59)
    m2.handle(E.Tick())
    assert not m2.frameworks["f1"].removed
    clock.advance(1)
    m2.handle(E.Tick())
    assert m2.frameworks["f1"].removed


def _snapshot_of(m: Master):
    return Snapshot(tuple(m.agents.values()), tuple(m.frameworks.values()),
                    tuple(m.tasks.values()))


def test_subscriptions_beyond_max_frameworks_are_refused_and_removed_ones_do_not_count():
    m, _ = make_master(max_frameworks=2)
    subscribe(m, "f1")
    subscribe(m, "f2")
    status, message = m.check_subscribe(None)
    assert status == 503 and "--max-frameworks 2" in message
    cmds = m.handle(E.Subscribe("s-f3", "f3"))
    assert not of_type(cmds, C.SendSubscribed) and "f3" not in m.frameworks
    assert m.check_subscribe("f1") is None  # a failover is not a new framework
    m.handle(E.Teardown("f2"))
    assert of_type(subscribe(m, "f3"), C.SendSubscribed)


def test_only_the_newest_removed_frameworks_are_remembered(tmp_path):
    store = MasterStore(f"sqlite:///{tmp_path / 'berth.db'}")
    m, _ = make_master(max_removed_frameworks=2)
    forgotten = []
    for i in range(5):
        store.apply(subscribe(m, f"f{i}"))
        cmds = m.handle(E.Teardown(f"f{i}"))
        store.apply(cmds)
        forgotten += [c.framework_id for c in of_type(cmds, C.ForgetFramework)]
    assert forgotten == ["f0", "f1", "f2"]
    assert sorted(m.frameworks) == ["f3", "f4"]
    assert sorted(f.id for f in store.load().frameworks) == ["f3", "f4"]
    store.close()


def test_what_is_offered_after_launches_and_ends_is_what_a_recount_finds():
    """The core keeps each agent's use as running sums; a restarted master recounts it
    from the tasks. Both must offer the same remainder, host ports included."""
    m, clock = make_master()
    register(m, "a1", cpus=8.0, mem=8192.0, ports="31000-31009")
    subscribe(m)
    sizes = [(0.5, 300.0, ()), (1.25, 700.0, (31003,)), (2.0, 1000.0, ()), (0.75, 128.0, ())]
    for n, (cpus, mem, ports) in enumerate(sizes):
        offer = offers_for(m.handle(E.Allocate()))[0]
        accept(m, [offer.id], launch(f"t{n}", cpus=cpus, mem=mem, host_ports=ports))
        if n % 2 == 0:  # the agent has started it and counted it in what it reports
            m.handle(E.AgentStatus("a1", f"t{n}", TaskState.RUNNING))
            m.handle(E.AgentCapacity("a1", m.agents["a1"].total, m.agents["a1"].spare))
    for done in ("t1", "t2"):
        m.handle(E.AgentStatus("a1", done, TaskState.FINISHED))
    clock.now += 1
    after = offers_for(m.handle(E.Allocate()))[0].resources

    snap = Snapshot(tuple(m.agents.values()), tuple(m.frameworks.values()),
                    tuple(m.tasks.values()))
    m2, _ = make_master(snapshot=snap)
    subscribe(m2)
    recounted = offers_for(m2.handle(E.Allocate()))[0].resources
    assert after == recounted
    assert after.cpus == pytest.approx(8.0 - 0.5 - 0.75)
    assert after.ports == ((31000, 31009),)  # t1's host port is free again


def test_torn_down_frameworks_leave_no_registry_behind_in_the_journal():
    m, _ = make_master(max_removed_frameworks=1)
    register(m)
    journaled = []
    for i in range(4):
        subscribe(m, f"f{i}")
        offer = offers_for(m.handle(E.Allocate()))[0]
        m.handle(E.Decline(f"f{i}", (offer.id,), 60.0))  # a filter: the framework's own
        m.handle(E.Teardown(f"f{i}"))
        journaled.append(len(m._journal._dicts))
    assert len(set(journaled)) == 1
