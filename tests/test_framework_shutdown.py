"""Stopping berth is not killing its tasks: what its shutdown stopped runs again on the
next start, and only a user's DELETE is a kill. Scheduler decisions on a virtual clock,
through the real SQLite store across the restart."""

from __future__ import annotations

from framework import events as ev
from framework.records import QUEUED_AFTER_SHUTDOWN, STOPPED_BY_SHUTDOWN
from framework.store import FrameworkStore
from offers.states import TaskState
from tests.framework_harness import Harness, launches, task

S = TaskState


def _persist(store: FrameworkStore, h: Harness, submitted: list[str]) -> None:
    store.add_submissions([(t, h.scheduler.task(t).spec, float(i))
                           for i, t in enumerate(submitted)])
    store.save_records([r for r in h.scheduler.changed_records()
                        if r.state is not S.PENDING or r.task_id != r.submission_id])
    store.mark_unwanted(h.scheduler.changed_unwanted())


def test_what_a_shutdown_stopped_is_queued_again_on_the_next_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    store = FrameworkStore(url)
    store.migrate()
    h = Harness.make()
    single = h.submit(task("influxdb", sla="singleton"))
    plain = h.submit(task("stress60"))
    daemon = h.submit(task("cadvisor", sla="one-per-node", mem=50))
    killed = h.submit(task("gone"))
    done = h.submit(task("batch"))
    h.run_launches(h.offers(h.offer("a1")))
    h.status(done, "FINISHED")
    h.send(ev.KillRequested("gone"))
    h.status(killed, "KILLED")
    # Ctrl-C: the containers are stopped (one exits non-zero on SIGTERM)
    h.send(ev.ShutdownStarted())
    h.status(single, "KILLING")  # the agent may say so first
    h.status(single, "KILLED", reason="killed on request")
    h.status(plain, "FAILED", reason="exit 143")
    h.status(daemon, "KILLED", reason="killed on request")
    assert launches(h.offers(h.offer("a1"))) == []  # nothing starts while it stops
    assert {h.scheduler.task(t).reason for t in (single, plain, daemon)} == {
        STOPPED_BY_SHUTDOWN}
    _persist(store, h, [single, plain, daemon, killed, done])
    store.close()

    store = FrameworkStore(url)
    again = Harness.make()
    for event in store.recover():
        again.send(event)
    store.close()
    again.send(ev.Subscribed("fw"))
    queued = {r.spec.id: r for r in again.scheduler.tasks() if r.state is S.PENDING}
    assert set(queued) == {"influxdb", "stress60", "cadvisor"}
    assert queued["influxdb"].reason == QUEUED_AFTER_SHUTDOWN
    assert queued["stress60"].reason == QUEUED_AFTER_SHUTDOWN
    started = again.run_launches(again.offers(again.offer("a1")))
    assert sorted(again.scheduler.task(t).spec.id for t in started) == [
        "cadvisor", "influxdb", "stress60"]
    assert again.scheduler.task(killed).reason == "killed on request"  # a kill stays one
