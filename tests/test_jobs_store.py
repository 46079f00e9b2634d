"""Jobs on disk: a job and its instances come back after a restart with their slots, and a
data dir written before jobs existed (migration f0002) is carried over with its tasks."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from framework import events as ev
from framework.store import MIGRATIONS, FrameworkStore, JobExists, JobState
from offers.job import Phase, parse_job
from offers.states import TaskState
from tests.framework_harness import Harness, launches
from tests.master_db import db_url

__all__ = ["db_url"]  # the fixture: SQLite, and PostgreSQL when BERTH_TEST_POSTGRES_URL is set

BATCH = {"name": "b", "type": "batch", "completions": 4, "parallelism": 2,
         "task": {"dockerimage": "x", "mem": 100, "cpus": 0.5}}


def test_a_batch_job_comes_back_with_its_finished_indexes_never_run_again(db_url):
    store = FrameworkStore(db_url)
    store.migrate()
    spec = parse_job(BATCH)
    store.write(jobs=[(spec, 1.0)])
    h = Harness.make()
    h.send(ev.JobSubmitted(spec, 1.0))
    for task_id in h.run_launches(h.offers(h.offer("a1"))):
        h.status(task_id, "FINISHED")  # indexes 0 and 1 succeed
    store.write(records=h.scheduler.changed_records())
    try:
        store.write(jobs=[(spec, 2.0)])
        raise AssertionError("a taken name was written twice")
    except JobExists:
        pass
    store.close()

    fresh = Harness.recovered(db_url)
    fresh.send(ev.Subscribed("fw"))
    indexes = [spec_.env["BERTH_JOB_INDEX"] for c in launches(
        fresh.offers(fresh.offer("a1", cpus=8, mem=8192))) for _, spec_ in c.tasks]
    assert sorted(indexes) == ["2", "3"]  # 0 and 1 had succeeded
    job = fresh.scheduler.job("b")
    assert sum(slot.done for slot in job.slots.values()) == 2


def test_a_scaled_and_stopped_job_comes_back_scaled_and_stopped(db_url):
    store = FrameworkStore(db_url)
    store.migrate()
    spec = parse_job({"name": "web", "type": "service", "count": 2,
                      "task": {"dockerimage": "x"}})
    store.write(jobs=[(spec, 1.0)])
    store.write(job_states=[JobState("web", 5, (7,), False)])
    store.close()
    fresh = Harness.recovered(db_url)
    fresh.send(ev.Subscribed("fw"))
    job = fresh.scheduler.job("web")
    assert job.counts == (5,) and job.steps == [7] and not job.wanted
    assert job.phase is Phase.STOPPED


def test_a_data_dir_from_before_jobs_is_carried_over_with_its_tasks(tmp_path):
    url = f"sqlite:///{tmp_path / 'berth.db'}"
    store = FrameworkStore(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "f0002_idempotency")  # the schema before jobs
        conn.execute(text(
            "INSERT INTO framework_submissions (id, spec, created_at, wanted) VALUES "
            "('web-1', '{\"id\": \"web\", \"dockerimage\": \"x\", \"sla\": \"singleton\"}', "
            "1.0, 1), ('once-2', '{\"id\": \"once\", \"dockerimage\": \"x\"}', 2.0, 1)"))
        conn.execute(text(
            "INSERT INTO framework_instances (task_id, submission_id, state, reason, "
            "agent_id, hostname, container_id, created_at, updated_at, by_usage, killed, "
            "launched_spec) VALUES ('web-1', 'web-1', 'RUNNING', NULL, 'a1', 'h-a1', 'c1', "
            "1.0, 1.5, 0, 0, NULL), ('once-2', 'once-2', 'FINISHED', NULL, 'a1', 'h-a1', "
            "'c2', 2.0, 2.5, 0, 0, NULL)"))
    store.close()

    fresh = Harness.recovered(url)  # migrates to head
    web, once = fresh.scheduler.job("web-1"), fresh.scheduler.job("once-2")
    assert web.kind == "service" and web.charmander
    assert fresh.scheduler.task("web-1").state is TaskState.RUNNING
    assert fresh.scheduler.task("web-1").slot == (0, 0)
    fresh.send(ev.Subscribed("fw"))
    assert once.phase is Phase.COMPLETE  # its instance had finished: it is not run again
    assert not launches(fresh.offers(fresh.offer("a2")))
