"""The framework's persistence: accepted tasks and jobs and their instances, in SQL.

The scheduler core never sees a session: the service writes what the REST API accepted
(`add_submissions`, before answering 202), what the core changed (`save_records`) and
reads it all back as events on start (`recover`). A submission may carry the client's
`Idempotency-Key`, written in the same transaction as the task, so no crash can keep one
without the other. SQLite by default, PostgreSQL by URL;
the schema is brought up to date with Alembic on open. Blocking by design: callers run it
on one worker thread so writes stay in order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    JSON,
    Column,
    Float,
    String,
    Table,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from framework.client_parameters import ClientParameters
from framework.events import JobSubmitted, TaskRecovered, TaskSubmitted
from framework.history import DEFAULT_RETENTION, AgentLoss, AgentSeen, HistoryWriter
from framework.models import Base, InstanceRow, MetaRow, SubmissionRow
from framework.records import TaskRecord
from framework.schedules import Run, ScheduleState
from offers.job import JobSpec
from offers.problems import SpecError
from offers.states import TERMINAL, TaskState
from offers.task import STORED, TaskSpec, parse_stored_task
from persistence.database import make_engine, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"
# The states a kill no longer applies to (LOST may come back, so it is killed too).
_DONE = sorted(str(s) for s in TERMINAL if s is not TaskState.LOST)


class StoreUnavailable(Exception):
    """The store cannot be written now (disk full, read-only, database unreachable): the
    write changed nothing and may succeed later. Not a bug, unlike other errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the framework's state store cannot be written: {reason}")
        self.reason = reason


def _reason(exc: OperationalError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


IDEMPOTENCY_TTL = 24 * 3600.0  # how long a retried POST is recognised (Stripe keeps 24 h)
_PRUNE_EVERY = 600.0  # seconds between deletions of expired keys

# Declared here, next to its only user, on the models' metadata (migration f0002).
IDEMPOTENCY = Table(
    "framework_idempotency", Base.metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("task_id", String(200), nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)


# Scheduled jobs (templates that do not run on their own) and clients' parameters, kept
# apart from the submissions the core runs (migration f0005).
SCHEDULES = Table(
    "framework_schedules", Base.metadata,
    Column("name", String(160), primary_key=True),
    Column("namespace", String(63), nullable=False, index=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_firing", Float, nullable=True),
    Column("runs", JSON, nullable=False),
)
CLIENT_PARAMETERS = Table(
    "framework_client_parameters", Base.metadata,
    Column("namespace", String(63), primary_key=True),
    Column("client", String(128), primary_key=True),
    Column("parameters", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's `Idempotency-Key`, the fingerprint of the request that first used it and
    the task that request created."""

    key: str
    fingerprint: str
    task_id: str
    created_at: float

# A submission: (internal id, spec, created_at), optionally with the key that created it.
Submission = tuple[str, TaskSpec, float] | tuple[str, TaskSpec, float, IdempotencyKey | None]


@dataclass(frozen=True)
class JobState:
    """What may change of an accepted job: the count a scale set, the steps still to
    come, whether it is still wanted."""

    job_id: str
    count: int | None
    steps: tuple[int, ...]
    wanted: bool
    size: tuple[float, float] | None = None  # (cpus, mem) of new instances, if resized


class JobExists(Exception):
    """A job of that name was already accepted: nothing was written."""


class FrameworkStore:
    """Submissions, instances and the framework id, behind plain methods."""

    def __init__(self, url: str, history_retention: float = DEFAULT_RETENTION) -> None:
        """`history_retention`: seconds the replayable history is kept (framework/history.py)."""
        self.url = url
        self.engine = make_engine(url)
        self._insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        self.history = HistoryWriter(self._insert, self.engine.dialect.name, history_retention)
        self._pruned_at = 0.0
        # Built once: constructing an Insert costs more than executing it for a small batch.
        self._insert_submissions = SubmissionRow.__table__.insert()
        self._upsert_records = self._record_upsert()

    def migrate(self) -> None:
        """Bring the framework's tables to the newest revision (idempotent)."""
        upgrade(self.engine, MIGRATIONS)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes -------------------------------------------------------------------------

    def write(self, *, submissions: Sequence[Submission] = (),
              records: Sequence[TaskRecord] = (), unwanted: Iterable[str] = (),
              framework_id: str | None = None, killed_prefixes: Sequence[str] = (),
              killed_ids: Sequence[str] = (),
              marks: dict[str, str] | None = None,
              jobs: Sequence[tuple[JobSpec, float]] = (),
              job_states: Sequence[JobState] = (),
              deleted_jobs: Sequence[str] = (),
              schedules: Sequence[ScheduleState] = (),
              new_schedules: Sequence[ScheduleState] = (),
              deleted_schedules: Sequence[str] = (),
              client_parameters: Sequence[ClientParameters] = (),
              agents_seen: Sequence[AgentSeen] = (),
              agent_losses: Sequence[AgentLoss] = ()) -> None:
        """Persist a batch in one transaction (the service's group commit).

        `submissions` are accepted tasks `(internal id, spec, created_at[, idempotency key])`; `records` are
        instance records to upsert; `unwanted` submission ids someone asked to kill;
        `killed_prefixes` a kill's desired state written ahead of it (every submission
        and live instance whose id starts with one: unwanted, killed), `killed_ids` the
        same for exactly these submissions and instances; `marks` meta
        values; `jobs` accepted job JSONs with their creation time, `job_states` jobs whose
        count, steps or wanted changed, `deleted_jobs` jobs to forget with their
        instances; `new_schedules` scheduled jobs accepted, `schedules` their changed
        last firing and runs (in the same transaction as the runs' `jobs`, so a run is
        never on disk without its firing, nor the firing without its run),
        `deleted_schedules` scheduled jobs to forget; `client_parameters` a client's whole
        set; `agents_seen` and `agent_losses` the history's agents (with the submissions'
        and records' own history rows, framework/history.py). Raises StoreUnavailable
        when the database cannot take the write, and
        JobExists when a job's name is taken.
        """
        unwanted = list(unwanted)
        if not (submissions or records or unwanted or framework_id or killed_prefixes
                or killed_ids or marks or jobs or job_states or deleted_jobs or schedules
                or new_schedules or deleted_schedules or client_parameters or agents_seen
                or agent_losses):
            return
        try:
            try:
                self._write(submissions, records, unwanted, framework_id, killed_prefixes,
                            killed_ids, marks or {}, jobs, job_states, deleted_jobs,
                            (schedules, new_schedules, deleted_schedules, client_parameters),
                            (agents_seen, agent_losses))
            except BaseException:
                self.history.forget()  # rolled back: its specs are written again
                raise
            self.history.confirm()
        except IntegrityError as exc:
            if jobs or new_schedules:
                raise JobExists(str(exc.orig).splitlines()[0]) from None
            raise
        except OperationalError as exc:  # the disk or the server, not the data
            raise StoreUnavailable(_reason(exc)) from exc

    def _write(self, submissions, records, unwanted, framework_id, killed_prefixes,
               killed_ids, marks, jobs, job_states, deleted_jobs, scheduled,
               agents=((), ())) -> None:
        with self.engine.begin() as conn:
            if any(scheduled):
                self._write_schedules(conn, *scheduled)
            if jobs:
                conn.execute(self._insert_submissions, [
                    {"id": spec.name, "spec": spec.to_json(), "created_at": created,
                     "wanted": True, "kind": "job"} for spec, created in jobs])
            for state in job_states:
                conn.execute(update(SubmissionRow).where(
                    SubmissionRow.id == state.job_id).values(
                        count=state.count, steps=list(state.steps) or None,
                        wanted=state.wanted,
                        size=list(state.size) if state.size is not None else None))
            for start in range(0, len(deleted_jobs), 500):
                ids = list(deleted_jobs[start:start + 500])
                conn.execute(delete(InstanceRow).where(InstanceRow.submission_id.in_(ids)))
                conn.execute(delete(SubmissionRow).where(SubmissionRow.id.in_(ids)))
            if submissions:
                conn.execute(self._insert_submissions, [
                    {"id": s[0], "spec": s[1].to_json(), "created_at": s[2], "wanted": True}
                    for s in submissions])
                keys = [s[3] for s in submissions if len(s) > 3 and s[3] is not None]
                if keys:
                    self._write_keys(conn, keys)
            for start in range(0, len(unwanted), 500):
                conn.execute(update(SubmissionRow).where(
                    SubmissionRow.id.in_(unwanted[start:start + 500])).values(wanted=False))
            if records:
                conn.execute(self._upsert_records, [_row(r) for r in records])
            for prefix in killed_prefixes:  # after the records, so they cannot undo it
                conn.execute(update(SubmissionRow).where(
                    SubmissionRow.id.startswith(prefix, autoescape=True),
                    SubmissionRow.wanted.is_(True)).values(wanted=False))
                conn.execute(update(InstanceRow).where(
                    InstanceRow.task_id.startswith(prefix, autoescape=True),
                    InstanceRow.state.not_in(_DONE)).values(killed=True))
            killed_ids = list(killed_ids)
            for start in range(0, len(killed_ids), 500):  # a kill limited to namespaces
                ids = killed_ids[start:start + 500]
                conn.execute(update(SubmissionRow).where(
                    SubmissionRow.id.in_(ids), SubmissionRow.wanted.is_(True)
                ).values(wanted=False))
                conn.execute(update(InstanceRow).where(
                    InstanceRow.task_id.in_(ids), InstanceRow.state.not_in(_DONE)
                ).values(killed=True))
            if submissions or records or agents[0] or agents[1]:
                self.history.write(conn, submissions, records, *agents)
            if framework_id:
                marks = {**marks, "framework_id": framework_id}
            for key, value in marks.items():
                stmt = self._insert(MetaRow.__table__).values(key=key, value=value)
                conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                        set_={"value": value}))

    def _write_schedules(self, conn, schedules, new_schedules, deleted_schedules,
                         client_parameters) -> None:
        if new_schedules:
            conn.execute(SCHEDULES.insert(), [_schedule_row(s) for s in new_schedules])
        for state in schedules:
            conn.execute(update(SCHEDULES).where(SCHEDULES.c.name == state.name).values(
                last_firing=state.last_firing, runs=[r.as_json() for r in state.runs]))
        if deleted_schedules:
            conn.execute(delete(SCHEDULES).where(SCHEDULES.c.name.in_(
                list(deleted_schedules))))
        for params in client_parameters:
            values = {"parameters": dict(params.values), "updated_at": params.updated_at}
            stmt = self._insert(CLIENT_PARAMETERS).values(
                namespace=params.namespace, client=params.client, **values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["namespace", "client"], set_=values))

    def _record_upsert(self):
        """The upsert of instance records, one statement run once per row (executemany):
        its SQL is compiled once, where a multi-row VALUES is compiled anew for every
        batch, at about a millisecond a row (a job scaled by 10,000 held the loop for
        seconds)."""
        stmt = self._insert(InstanceRow.__table__)
        columns = {c.name: stmt.excluded[c.name] for c in InstanceRow.__table__.columns
                   if c.name != "task_id"}
        # A user's kill is never undone: a record written after a kill's write-ahead (but
        # made before it) must not clear it.
        columns["killed"] = or_(InstanceRow.__table__.c.killed, stmt.excluded["killed"])
        return stmt.on_conflict_do_update(index_elements=["task_id"], set_=columns)

    def _write_keys(self, conn, keys: list[IdempotencyKey]) -> None:
        # The service lets one request per key through at a time, so a conflict means
        # another process (a second framework on the same database): keep its key.
        conn.execute(self._insert(IDEMPOTENCY).values([
            {"key": k.key, "fingerprint": k.fingerprint, "task_id": k.task_id,
             "created_at": k.created_at} for k in keys]).on_conflict_do_nothing(
            index_elements=["key"]))
        newest = max(k.created_at for k in keys)
        if newest - self._pruned_at >= _PRUNE_EVERY:
            conn.execute(delete(IDEMPOTENCY).where(
                IDEMPOTENCY.c.created_at < newest - IDEMPOTENCY_TTL))
            self._pruned_at = newest

    def add_submissions(self, items: Sequence[Submission]) -> None:
        self.write(submissions=items)

    def mark_unwanted(self, submission_ids: Iterable[str]) -> None:
        self.write(unwanted=submission_ids)

    def save_records(self, records: Sequence[TaskRecord]) -> None:
        self.write(records=records)

    def set_framework_id(self, framework_id: str) -> None:
        self.write(framework_id=framework_id)

    # -- reads --------------------------------------------------------------------------

    def framework_id(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(MetaRow.value).where(
                MetaRow.key == "framework_id")).scalar_one_or_none()

    def idempotency_key(self, key: str, now: float | None = None) -> IdempotencyKey | None:
        """What the key was first used for, unless that is older than IDEMPOTENCY_TTL."""
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            row = conn.execute(select(IDEMPOTENCY).where(
                IDEMPOTENCY.c.key == key,
                IDEMPOTENCY.c.created_at >= now - IDEMPOTENCY_TTL)).one_or_none()
        return IdempotencyKey(row.key, row.fingerprint, row.task_id, row.created_at) \
            if row is not None else None

    def schedules(self) -> list[ScheduleState]:
        """Every scheduled job, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(SCHEDULES).order_by(SCHEDULES.c.created_at,
                                                           SCHEDULES.c.name)).all()
        return [ScheduleState(
            spec=JobSpec.model_validate(row.spec, context=STORED),
            created_at=row.created_at, last_firing=row.last_firing,
            runs=tuple(Run(r["name"], r["firing"], manual=r.get("manual", False))
                       for r in row.runs)) for row in rows]

    def client_parameters(self) -> list[ClientParameters]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(CLIENT_PARAMETERS)).all()
        return [ClientParameters(row.namespace, row.client, dict(row.parameters),
                                 row.updated_at) for row in rows]

    def recover(self) -> list[TaskSubmitted | TaskRecovered | JobSubmitted]:
        """Everything on disk as events for a fresh scheduler, oldest first.

        A submission with no instance yet (accepted, then the process stopped) comes back
        as TaskSubmitted, so it is queued again: a 202 is never lost. A spec that fails
        today's checks (stored before they existed) comes back with `invalid` saying why,
        to be quarantined; it never stops the recovery of the others.
        """
        with self.engine.connect() as conn:
            subs = conn.execute(select(SubmissionRow).order_by(
                SubmissionRow.created_at, SubmissionRow.id)).all()
            instances = conn.execute(select(InstanceRow).order_by(
                InstanceRow.created_at, InstanceRow.task_id)).all()
        by_sub: dict[str, list] = {}
        for row in instances:
            by_sub.setdefault(row.submission_id, []).append(row)
        out: list[TaskSubmitted | TaskRecovered | JobSubmitted] = []
        for sub in subs:
            rows = by_sub.get(sub.id, [])
            if sub.kind == "job":
                job = JobSpec.model_validate(sub.spec, context=STORED)
                out.append(JobSubmitted(job, sub.created_at, sub.count,
                                        tuple(sub.steps or ()), sub.wanted, recovering=True,
                                        size=tuple(sub.size) if sub.size else None))
                out += [_recovered(row, sub, job.templates[0].task(job), None)
                        for row in rows]
                continue
            spec, invalid = _stored_spec(sub.spec, sub.id)
            if not rows:
                if sub.wanted:
                    out.append(TaskSubmitted(sub.id, spec, invalid=invalid))
                continue
            out += [_recovered(row, sub, spec, invalid) for row in rows]
        return out


def _recovered(row, sub, spec: TaskSpec, invalid: str | None) -> TaskRecovered:
    slot = (0, 0) if row.slot_template is None else (row.slot_template, row.slot_index)
    return TaskRecovered(
        task_id=row.task_id, submission_id=sub.id, spec=spec, state=TaskState(row.state),
        created_at=row.created_at, agent_id=row.agent_id, hostname=row.hostname,
        container_id=row.container_id, reason=row.reason, killed=row.killed,
        by_usage=row.by_usage, wanted=sub.wanted, invalid=invalid,
        launched_spec=_launched_spec(row.launched_spec), slot=slot, exit_code=row.exit_code,
        updated_at=row.updated_at)


def _stored_spec(data: dict, submission_id: str) -> tuple[TaskSpec, str | None]:
    """A stored spec and, if it fails today's checks, why (as an ERROR reason)."""
    try:
        spec, problems = parse_stored_task(data)
    except SpecError as exc:  # never valid: keep what can be shown
        problems = exc.problems
        spec = TaskSpec.model_construct(id=str(data.get("id") or submission_id),
                                        dockerimage=str(data.get("dockerimage") or "?"))
    if not problems:
        return spec, None
    return spec, "the spec fails today's checks: " + "; ".join(str(p) for p in problems)


def _launched_spec(data: dict | None) -> TaskSpec | None:
    if not data:
        return None
    try:
        return TaskSpec.model_validate(data, context=STORED)
    except ValueError:
        return None


def _schedule_row(state: ScheduleState) -> dict:
    return {"name": state.name, "namespace": state.spec.namespace,
            "spec": state.spec.to_json(), "created_at": state.created_at,
            "last_firing": state.last_firing, "runs": [r.as_json() for r in state.runs]}


def _row(record: TaskRecord) -> dict:
    """An instance record as a row: a value for every column (the upsert sets them all)."""
    return {
        "task_id": record.task_id, "submission_id": record.submission_id,
        "state": str(record.state), "reason": (record.reason or None) and record.reason[:2000],
        "agent_id": record.agent_id, "hostname": record.hostname,
        "container_id": record.container_id, "created_at": record.created_at,
        "updated_at": record.updated_at, "by_usage": record.by_usage, "killed": record.killed,
        "launched_spec": record.launched_spec.to_json() if record.launched_spec else None,
        "slot_template": record.slot[0] if record.slot else None,
        "slot_index": record.slot[1] if record.slot else None,
        "exit_code": record.exit_code,
    }
