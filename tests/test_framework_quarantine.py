"""A task whose launch failed for a reason in its own spec ends ERROR with that reason and
is not tried again and again; the other tasks are not held up by it.

Scheduler decisions on a virtual clock, then the same through a real SQLite store and the
real master core (the ACCEPT as JSON, read the way the master's HTTP handler reads it).
"""

from __future__ import annotations

import json

from sqlalchemy import insert

from api.mesos_task_info import launch_from_task_info
from framework import commands as cmd
from framework import events as ev
from framework.models import SubmissionRow
from framework.store import FrameworkStore
from master import commands as MC
from master import events as ME
from offers.launch import LaunchSpec
from offers.protocol import mesos as mj
from offers.protocol.mesos_calls import parse_call
from offers.protocol.task_info import task_info
from offers.states import TaskState
from tests.framework_harness import Harness, launches, task
from tests.master_harness import make_master, offers_for, register, subscribe

S = TaskState
INVALID = "REASON_TASK_INVALID"


def _error(h: Harness, task_id: str, reason: str, code: str | None = None) -> list:
    record = h.scheduler.task(task_id)
    extra = {"code": code} if code else {}
    return h.send(ev.TaskStatusChanged(task_id, S.ERROR, reason, record.agent_id, **extra))


def _all_launched(h: Harness, rounds: int, *agents: str) -> list[str]:
    """Offer every agent `rounds` times, an hour apart, answering every launch ERROR."""
    launched = []
    for _ in range(rounds):
        h.clock.now += 3600
        h.send(ev.Tick())
        for c in launches(h.offers(*[h.offer(a) for a in agents])):
            for task_id, _spec in c.tasks:
                launched.append(task_id)
                _error(h, task_id, "image stress not found on this node")
    return launched


def test_a_singleton_whose_instance_ends_error_is_not_relaunched():
    h = Harness.make()
    sid = h.submit(task("influxdb", sla="singleton"))
    [launch] = launches(h.offers(h.offer("a1")))
    [(first, _)] = launch.tasks
    _error(h, first, "image influxdb not found on this node")
    h.send(ev.Subscribed("fw"))  # a re-subscription runs the SLA upkeep again
    assert _all_launched(h, 5, "a1", "a2") == []
    record = h.scheduler.task(sid)
    assert record.state is S.ERROR and "not found" in record.reason
    assert not h.scheduler.has_work()


def test_one_per_node_rejected_by_the_master_as_invalid_is_quarantined_everywhere():
    h = Harness.make()
    sid = h.submit(task("cadvisor", sla="one-per-node"))
    [launch] = launches(h.offers(h.offer("a1")))
    [(first, _)] = launch.tasks
    _error(h, first, "resources: a task needs cpus > 0 and mem > 0 (REASON_TASK_INVALID)",
           code=INVALID)
    assert _all_launched(h, 3, "a1", "a2", "a3") == []
    assert not h.scheduler.has_work()
    assert h.scheduler.task(first).state is S.ERROR
    assert all(r.state.terminal for r in h.scheduler.tasks() if r.submission_id == sid)


def test_one_per_node_failing_on_one_node_is_given_up_there_after_a_few_tries():
    h = Harness.make(backoff_seconds=10)
    h.submit(task("cadvisor", sla="one-per-node"))
    h.run_launches(h.offers(h.offer("good")))
    tries = _all_launched(h, 20, "bad")
    assert 1 <= len(tries) <= 3  # bounded and backed off, not every round
    # ...while the node that runs it keeps it and a node that joins later still gets one
    out = h.offers(h.offer("new"))
    assert [c.agent_id for c in launches(out)] == ["new"]
    assert ("cadvisor", "good") in [(r.spec.id, r.agent_id) for r in h.scheduler.tasks()
                                    if r.state is S.RUNNING]


def _tiny_stored(url: str) -> None:
    """What a store written before the minimum sizes may hold: cpus 0.0000001."""
    store = FrameworkStore(url)
    store.migrate()
    spec = task("tiny").to_json() | {"cpus": 1e-07}
    with store.engine.begin() as conn:
        conn.execute(insert(SubmissionRow), [{"id": "tiny-1", "spec": spec,
                                             "created_at": 1.0, "wanted": True}])
    store.add_submissions([("normal-2", task("normal"), 2.0), ("other-3", task("other"), 3.0)])
    store.close()


def _recovered(url: str) -> Harness:
    store = FrameworkStore(url)
    h = Harness.make()
    for event in store.recover():
        h.send(event)
    store.close()
    return h


def _accept_through_the_master(launch: cmd.Launch, framework_id: str, master) -> list:
    """The ACCEPT as the framework sends it and the master's HTTP handler reads it."""
    infos = [task_info(LaunchSpec.from_task(task_id, framework_id, spec), launch.agent_id)
             for task_id, spec in launch.tasks]
    call = parse_call(json.loads(json.dumps(
        mj.accept_call(framework_id, launch.offer_ids, infos))))
    launched = [launch_from_task_info(info, framework_id)
                for op in call.accept.operations for info in op.launch.task_infos]
    return master.handle(ME.Accept(framework_id, launch.offer_ids, tuple(launched), None))


def test_a_stored_tiny_task_ends_error_on_recovery_and_the_round_launches_the_others(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    _tiny_stored(url)
    h = _recovered(url)
    master, _clock = make_master()
    sent = register(master, "a1") + subscribe(master, "fw") + master.handle(ME.Allocate())
    h.send(ev.Subscribed("fw"))
    [offer] = offers_for(sent, "fw")
    out = h.offers(h.offer("a1", cpus=offer.resources.cpus, mem=offer.resources.mem))
    [launch] = launches(out)
    launch = cmd.Launch((offer.id,), "a1", launch.tasks)
    sent = _accept_through_the_master(launch, "fw", master)
    started = sorted(c.spec.task_id for c in sent if isinstance(c, MC.LaunchOnAgent))
    assert started == ["normal-2", "other-3"]
    tiny = h.scheduler.task("tiny-1")
    assert tiny.state is S.ERROR
    assert "cpus" in tiny.reason and "at least 0.01" in tiny.reason


async def test_the_service_recovers_around_a_stored_tiny_task_and_keeps_it_error(tmp_path):
    from api.framework_server import start_framework

    url = f"sqlite:///{tmp_path / 'b.db'}"
    _tiny_stored(url)
    for _restart in range(2):  # ERROR is written back: the second start reads it
        fw = await start_framework(None, "127.0.0.1", 0, db_url=url)
        try:
            states = {r.task_id: (r.state, r.reason) for r in fw.service.scheduler.tasks()}
        finally:
            await fw.stop()
        assert states["tiny-1"][0] is S.ERROR and "cpus" in states["tiny-1"][1]
        assert states["normal-2"][0] is S.PENDING and states["other-3"][0] is S.PENDING
    store = FrameworkStore(url)
    recovered = {e.task_id: e for e in store.recover()}
    store.close()
    assert recovered["tiny-1"].state is S.ERROR
