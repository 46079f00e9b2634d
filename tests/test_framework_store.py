"""The framework's store: what was accepted comes back after a restart, on real SQLite."""

from __future__ import annotations

from sqlalchemy import event, select

from framework import commands as cmd
from framework import events as ev
from framework.store import FrameworkStore, InstanceRow
from offers.states import TaskState
from tests.framework_harness import Harness, task
from tests.master_db import db_url

__all__ = ["db_url"]  # the fixture: SQLite, and PostgreSQL when BERTH_TEST_POSTGRES_URL is set


def test_accepted_tasks_and_instances_survive_a_restart(db_url):
    url = db_url
    store = FrameworkStore(url)
    store.migrate()
    store.migrate()  # idempotent
    h = Harness.make()
    running = h.submit(task("stress60", reshuffleable=True))
    waiting = h.submit(task("big", mem=100_000))
    killed = h.submit(task("gone"))
    h.run_launches(h.offers(h.offer("a1")))
    h.send(ev.KillRequested("gone"))
    store.add_submissions([(t, h.scheduler.task(t).spec, 1.0) for t in (running, waiting, killed)])
    store.save_records(h.scheduler.changed_records())
    store.mark_unwanted(h.scheduler.changed_unwanted())
    store.set_framework_id("fw-1")
    # an accepted task whose instance never reached the disk
    lonely = "lonely-1"
    store.add_submissions([(lonely, task("lonely"), 2.0)])
    store.close()

    again = FrameworkStore(url)
    assert again.framework_id() == "fw-1"
    fresh = Harness.recovered(url)
    states = fresh.states()
    assert states[running] == "RUNNING"
    assert states[waiting] == "PENDING"
    assert states[killed] == "KILLING"
    assert states[lonely] == "PENDING"
    assert fresh.scheduler.task(running).agent_id == "a1"
    # launched tasks are reconciled on subscribe; the killed one is not relaunched
    out = fresh.send(ev.Subscribed("fw-1"))
    [reconcile] = [c for c in out if isinstance(c, cmd.Reconcile)]
    assert set(reconcile.tasks) == {(running, "a1"), (killed, "a1")}
    fresh.status(killed, "KILLED")
    fresh.offers(fresh.offer("a2"))
    assert fresh.scheduler.task(killed).state is TaskState.KILLED
    assert [r.task_id for r in fresh.scheduler.tasks() if r.submission_id == killed] == [killed]


def test_upsert_overwrites_state(db_url):
    url = db_url
    store = FrameworkStore(url)
    store.migrate()
    h = Harness.make()
    t = h.submit(task("x"))
    store.add_submissions([(t, task("x"), 1.0)])
    store.save_records(h.scheduler.changed_records())
    h.run_launches(h.offers(h.offer("a1")))
    store.save_records(h.scheduler.changed_records())
    [event] = store.recover()
    assert event.state is TaskState.RUNNING


def test_instance_records_are_one_statement_compiled_once_however_many(db_url):
    """A job scaled by 10,000 wrote its records as multi-row VALUES batches, each compiled
    anew (about a millisecond a row, on the loop's time): the fuzzer's PUT /v1/jobs/0/scale
    did not answer in 10 s. Now one executemany of one statement (and one for the
    history's rows, framework/history.py), and a kill written ahead is still never undone
    by a record made before it."""
    store = FrameworkStore(db_url)
    store.migrate()
    h = Harness.make()
    ids = [h.submit(task(f"t{i}")) for i in range(1200)]
    store.add_submissions([(t, task("t"), 1.0) for t in ids])
    records = h.scheduler.changed_records()
    store.save_records(records)
    store.write(killed_prefixes=[ids[0]])  # a kill's write-ahead
    executed = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, params, context, many: executed.append(
                     (sql.split()[0], many)))
    store.save_records(records)  # again, as made before the kill
    assert executed == [("INSERT", True), ("INSERT", True)]
    with store.engine.connect() as conn:
        killed = dict(conn.execute(select(InstanceRow.task_id, InstanceRow.killed)).all())
    assert len(killed) == 1200 and killed[ids[0]] is True and killed[ids[1]] is False
