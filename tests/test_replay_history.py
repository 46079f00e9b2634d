"""`berth sim --replay-from`: a session recorded by the real framework (its REST API, its
Mesos event handling, its store writer and metrics store, on an injected clock) replays
as the tasks that ran, when they were asked for, as long as they ran, on the agents
offered, losing the agent that was lost; the history is pruned after its retention; bad
URLs and windows are refused with nothing written."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from cli import main
from framework.history import HISTORY, PRUNE_EVERY, SPECS
from framework.process.metrics_feed import metering_samples
from framework.store import FrameworkStore
from master.records import OfferRecord, StatusUpdate
from offers.protocol import mesos as mj
from offers.resource_vector import Resources
from offers.states import TaskState
from simulator.traces.berth_history import read
from tests.clocked_framework import call, framework_starter, http  # noqa: F401
from tests.framework_harness import Clock

T0 = 1_790_000_000.0  # the session's start (2026-09-21, UTC)
DURATIONS = {"alpha": 60.0, "beta": 120.0, "gamma": 180.0}


def _offer(n: int, agent: str, host: str, cpus: float, mem: float) -> OfferRecord:
    return OfferRecord(f"o{n}", "fw-1", agent, host, {"nodetype": "lab"},
                       Resources(cpus=cpus, mem=mem, disk=10_000), 0.0, 1e12)


def _status(task_id: str, state: TaskState, agent: str) -> dict:
    return mj.update_event(StatusUpdate(task_id, "fw-1", agent, state))


async def _record_session(starter, clock, http) -> dict[str, str]:  # noqa: F811
    """Four tasks submitted 10 s apart; three run on h1 for their DURATIONS, one (too big)
    never starts; h2 is offered, then lost. Returns task name -> instance id."""
    fw = await starter()
    service = fw.service
    clock.now = T0
    await service._on_mesos_event(mj.subscribed_event("fw-1", 15))
    for k, (name, cpus) in enumerate([("alpha", 1), ("beta", 2), ("gamma", 1),
                                      ("huge", 64)]):
        clock.now = T0 + 10 * k
        status, _ = await call(http, fw, "POST", "/client/task", {
            "id": name, "dockerimage": "busybox", "cpus": cpus, "mem": 256})
        assert status in (200, 201, 202)
    clock.now = T0 + 40
    await service._on_mesos_event(mj.offers_event([_offer(1, "a1", "h1", 8, 8192)]))
    ids = {r.spec.id: r.task_id for r in service.scheduler.tasks()}
    launched = {name: tid for name, tid in ids.items()
                if service.scheduler.task(tid).state is TaskState.STAGING}
    assert sorted(launched) == ["alpha", "beta", "gamma"]
    clock.now = T0 + 45
    for tid in launched.values():
        await service._on_mesos_event(_status(tid, TaskState.RUNNING, "a1"))
    await service._on_mesos_event(mj.offers_event([_offer(2, "a2", "h2", 4, 4096)]))
    samples = metering_samples({"samples": [
        {"task_id": launched["alpha"], "t": T0 + 50, "cpus": 0.4, "mem": 100},
        {"task_id": launched["alpha"], "t": T0 + 80, "cpus": 0.7, "mem": 90}]},
        service.instance_tags)
    await service.metrics.record(samples)
    clock.now = T0 + 100
    await service._on_mesos_event(mj.failure_event("a2"))
    for name, duration in sorted(DURATIONS.items(), key=lambda kv: kv[1]):
        clock.now = T0 + 45 + duration
        await service._on_mesos_event(_status(launched[name], TaskState.FINISHED, "a1"))
    await service.settle()
    await fw.stop()
    return ids


@pytest.fixture
async def recorded(tmp_path, http):  # noqa: F811
    clock = Clock(T0)
    async for starter in framework_starter(tmp_path, clock):
        ids = await _record_session(starter, clock, http)
        yield f"sqlite:///{tmp_path}/f.db", ids


async def test_replay_reproduces_submissions_durations_usage_and_losses(recorded, tmp_path):
    url, ids = recorded
    replay = read(url, T0 - 5, T0 + 600)
    items = {i.spec.id: i for i in replay.trace.workload}
    assert sorted(items) == sorted(ids.values())
    for k, name in enumerate(["alpha", "beta", "gamma", "huge"]):
        assert items[ids[name]].submit_at == pytest.approx(5 + 10 * k)
        assert items[ids[name]].spec.dockerimage == "busybox"
    for name, duration in DURATIONS.items():
        assert items[ids[name]].duration == pytest.approx(duration)
    assert items[ids["huge"]].duration is None  # still waiting at --until
    assert items[ids["huge"]].spec.cpus == 64
    assert items[ids["alpha"]].used == pytest.approx((0.7, 100))
    assert items[ids["beta"]].used is None  # never metered: uses its request
    nodes = {n.hostname: n for n in replay.trace.nodes}
    assert sorted(nodes) == ["h1", "h2"]
    assert (nodes["h1"].cpus, nodes["h1"].mem) == (8, 8192)
    assert nodes["h1"].attributes == {"nodetype": "lab"}
    assert replay.losses == ((pytest.approx(105), "h2"),)


async def test_berth_sim_replays_the_window_with_another_strategy(recorded, tmp_path):
    url, _ = recorded
    out = tmp_path / "report"
    result = CliRunner().invoke(main, [
        "sim", "--replay-from", url, "--since", str(T0 - 5),
        "--until", datetime.fromtimestamp(T0 + 600, UTC).isoformat(),
        "--strategy", "spread", "--report", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 tasks, 2 machines" in result.stderr and "1 agent losses" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"] == "spread"
    assert summary["workload_tasks"] == 4 and summary["nodes"] == 2
    assert summary["horizon_s"] == 605
    assert summary["tasks"] == {"finished": 3, "running_at_end": 0, "stopped_at_end": 0,
                                "never_ran": 1}
    assert summary["agents"]["losses"] == 1


async def test_a_window_that_starts_mid_run_keeps_what_remained(recorded):
    url, ids = recorded
    items = {i.spec.id: i for i in read(url, T0 + 100, T0 + 600).trace.workload}
    assert items[ids["gamma"]].submit_at == 0  # asked for before the window
    assert items[ids["gamma"]].duration == pytest.approx(125)  # ran 45..225
    assert items[ids["alpha"]].duration == pytest.approx(5)  # ran 45..105
    replay = read(url, T0 + 100, T0 + 200)
    items = {i.spec.id: i for i in replay.trace.workload}
    assert items[ids["gamma"]].duration is None  # still running at --until
    assert items[ids["beta"]].duration == pytest.approx(65)
    assert replay.trace.counts["still running at --until (no duration)"] == 1


def _sim(*args: str):
    return CliRunner().invoke(main, ["sim", *args])


@pytest.mark.parametrize(("args", "says"), [
    (["--replay-from", "sqlite:///{tmp}/nowhere.db", "--since", "7d"], "no such SQLite file"),
    (["--replay-from", "not a url at all", "--since", "7d"], "is not a database URL"),
    (["--replay-from", "postgresql://u:secret@127.0.0.1:1/x", "--since", "7d"],
     "cannot read postgresql://u:***@127.0.0.1:1/x"),
    (["--replay-from", "sqlite:///{tmp}/junk.db", "--since", "7d"], "cannot read"),
    (["--replay-from", "sqlite:///{tmp}/empty.db", "--since", "7d"], "holds no berth history"),
    (["--replay-from", "sqlite:///{tmp}/f.db", "--since", "yesterday"],
     "--since: 'yesterday' is not a time"),
    (["--replay-from", "sqlite:///{tmp}/f.db", "--since", "2d", "--until", "3d"],
     "--until: the window ends before it starts"),
    (["--replay-from", "sqlite:///{tmp}/f.db", "--since", "2001-01-01",
      "--until", "2001-01-02"], "--replay-from: no task in the window 2001-01-01T00:00:00Z"),
])
async def test_bad_input_is_refused_and_nothing_written(recorded, tmp_path, args, says):
    (tmp_path / "junk.db").write_bytes(b"this is not a database, " * 100)
    sqlite3.connect(tmp_path / "empty.db").execute("create table t (x)").connection.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    result = _sim(*[a.replace("{tmp}", str(tmp_path)) for a in args],
                  "--report", str(tmp_path / "report"))
    assert result.exit_code == 2, result.output
    assert says in result.stderr, result.stderr
    assert "secret" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no report, no database


def test_replay_options_need_each_other(tmp_path):
    assert "--since and --until go with --replay-from" in _sim(
        "--synthetic", "--nodes", "2", "--since", "1d", "--report", str(tmp_path / "r")).output
    assert "--replay-from needs --since" in _sim(
        "--replay-from", "sqlite:///x.db", "--report", str(tmp_path / "r")).output
    assert "--duration does not go with --replay-from" in _sim(
        "--replay-from", "sqlite:///x.db", "--since", "1d", "--duration", "60",
        "--report", str(tmp_path / "r")).output


def test_history_retention_option_is_checked():
    result = CliRunner().invoke(main, ["framework", "--history-retention", "soon"])
    assert result.exit_code == 2 and "'soon' is not a period" in result.output


def _history_ids(url: str, table=HISTORY) -> list[str]:
    store = FrameworkStore(url)
    with store.engine.connect() as conn:
        ids = sorted(conn.execute(table.select()).scalars())
    store.close()
    return ids


def test_history_is_pruned_after_its_retention(tmp_path):
    from framework.history import AgentLoss, AgentSeen
    from framework.records import new_record
    from tests.builders import task

    url = f"sqlite:///{tmp_path}/p.db"
    store = FrameworkStore(url, history_retention=3600)
    store.migrate()

    def record(tid: str, state: TaskState, at: float):
        return new_record(task_id=tid, submission_id=tid, spec=task(tid), state=state,
                          created_at=at - 10, updated_at=at, running_at=at - 5)

    store.write(records=[record("old", TaskState.FINISHED, 1000.0),
                         record("forever", TaskState.RUNNING, 1000.0)],
                agents_seen=[AgentSeen("a1", "h1", 4, 4096, 0, {}, 1000.0)],
                agent_losses=[AgentLoss("a1", "h1", 1000.0)])
    # within the retention, or before the next pruning round: everything stays
    store.write(records=[record("new", TaskState.FINISHED, 1000.0 + 3000)])
    assert _history_ids(url) == ["forever", "new", "old"]
    store.write(records=[record("later", TaskState.FINISHED, 1000.0 + 3600 + PRUNE_EVERY)])
    ids = _history_ids(url)
    assert ids == ["forever", "later", "new"]  # a running instance is kept however old
    assert _history_ids(url, SPECS) == ["forever:0", "later:0", "new:0"]
    replay = read(url, 0, 10_000)
    assert replay.losses == () and replay.trace.nodes is None
    store.close()


@pytest.fixture
def postgres_url():
    """A database of its own on the test server (created, then dropped), so the shared
    one is neither filled nor migrated to a revision other branches do not know."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("BERTH_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("BERTH_TEST_POSTGRES_URL not set (scripts/test.sh sets it)")
    name = f"berth_replay_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_postgres_history_round_trip(postgres_url):
    from framework.history import AgentSeen
    from framework.records import new_record
    from tests.builders import task

    url = postgres_url
    store = FrameworkStore(url)
    store.migrate()
    tid, host, at = "replaypg-1", "pg-h1", 2_000_000_000.0
    store.write(submissions=[(tid, task(tid, cpus=2), at)],
                agents_seen=[AgentSeen(f"{host}-a", host, 2, 1024, 0, {}, at)])
    store.write(agents_seen=[AgentSeen(f"{host}-a", host, 6, 512, 0, {}, at + 1)])
    store.write(records=[new_record(task_id=tid, submission_id=tid, spec=task(tid, cpus=2),
                                    state=TaskState.FINISHED, created_at=at + 5,
                                    updated_at=at + 70, running_at=at + 10, hostname=host)])
    store.close()
    replay = read(url, at, at + 100)
    items = {i.spec.id: i for i in replay.trace.workload}
    assert items[tid].submit_at == 0 and items[tid].duration == 60  # asked for at `at`
    assert items[tid].spec.cpus == 2
    nodes = {n.hostname: n for n in replay.trace.nodes}
    assert (nodes[host].cpus, nodes[host].mem) == (6, 1024)  # the largest of each


def test_a_batch_rolled_back_writes_its_specs_again(tmp_path):
    """A spec is written once, so a batch that failed after queuing it (the disk full at
    its last statement) must not count it as written."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from framework.records import new_record
    from framework.store import StoreUnavailable
    from tests.builders import task

    url = f"sqlite:///{tmp_path}/r.db"
    store = FrameworkStore(url)
    store.migrate()
    record = new_record(task_id="x", submission_id="x", spec=task("x", cpus=3),
                        state=TaskState.FINISHED, created_at=10.0, updated_at=70.0,
                        running_at=20.0)
    failing = [True]

    def full_disk(conn, cursor, statement, params, context, many):
        if failing[0] and "framework_meta" in statement:
            raise OperationalError(statement, params, Exception("database or disk is full"))

    event.listen(store.engine, "before_cursor_execute", full_disk)
    with pytest.raises(StoreUnavailable):
        store.write(records=[record], marks={"note": "last statement of the batch"})
    failing[0] = False
    store.write(marks={"note": "a batch without history"})
    store.write(records=[record])  # the writer retries what it kept
    store.close()
    [item] = read(url, 0, 100).trace.workload
    assert item.spec.cpus == 3 and item.duration == 50


def test_the_mapping_of_recorded_instances_case_by_case():
    """Hand-made rows, each a case of docs/traces.md: a run cut by a lost agent and its
    replacement are one task; a restart after a failure is its own; one-per-node
    instances are one task; a task killed while pending is left out; a loss of an agent
    never offered is not replayed; sizes of one host's agents merge."""
    from framework.history import AgentLoss, AgentSeen
    from framework.history_reader import InstanceRun, RecordedHistory
    from simulator.traces.berth_history import build

    spec = {"id": "w", "dockerimage": "busybox", "cpus": 1, "mem": 64}

    def run(tid, sub, slot, submitted, started, ended, state, host="h1"):
        return InstanceRun(tid, sub, slot, submitted, started, ended, state, host,
                           {**spec, "id": sub}, None)

    history = RecordedHistory(runs=[
        run("a", "a", "0:0", 110, 120, 150, "LOST"),
        run("a.1", "a", "0:0", 160, 170, 200, "FINISHED"),
        run("b", "b", "0:0", 110, 115, 130, "FAILED"),
        run("b.1", "b", "0:0", 135, 140, 190, "FINISHED"),
        run("d.1", "d", None, 100, 101, None, "RUNNING", "h1"),
        run("d.2", "d", None, 105, 108, None, "RUNNING", "h2"),
        run("k", "k", "0:0", 120, None, 125, "KILLED", None),
    ], agents=[AgentSeen("a1", "h1", 4, 1000, 0, {"rack": "r1"}, 100),
               AgentSeen("a1b", "h1", 2, 4000, 0, {}, 300),
               AgentSeen("a2", "h2", 8, 8000, 0, {}, 100)],
        losses=[AgentLoss("a1", "h1", 150), AgentLoss("zz", None, 160)])
    replay = build(history, since=100, until=1000)
    got = [(i.spec.id, i.submit_at, i.duration) for i in replay.trace.workload]
    assert got == [("d", 0, None), ("a.1", 10, 30), ("b", 10, 15), ("b.1", 35, 50)]
    assert replay.trace.counts == {
        "runs interrupted by a lost agent (replayed as one)": 1,
        "one-per-node instances (replayed as their one task)": 2,
        "still running at --until (no duration)": 1,
        "left out: ended without running": 1,
        "agent losses of agents never offered (not replayed)": 1}
    assert replay.losses == ((50, "h1"),)
    nodes = {n.hostname: (n.cpus, n.mem, n.attributes) for n in replay.trace.nodes}
    assert nodes == {"h1": (4, 4000, {"rack": "r1"}), "h2": (8, 8000, {})}
