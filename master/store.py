"""The master's persistence: applies the core's `Persist` commands, hands out snapshots.

The core never sees a session. SQLite by default, PostgreSQL by URL; the schema is brought
up to date with Alembic on open. Blocking by design: the HTTP adapter runs it on one
worker thread so writes stay in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from master import commands as C
from master.models import AgentRow, FrameworkRow, MeteringRow, TaskRow, TaskStatusRow
from master.records import AgentRecord, FrameworkRecord, Snapshot, TaskRecord
from offers.launch import LaunchSpec
from offers.resource_vector import Resources
from offers.states import TaskState
from persistence.database import make_engine, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the master's tables to the newest revision (idempotent)."""
    upgrade(engine, MIGRATIONS)


# Metering rows are a hand-over to frameworks (which keep what they want in their metrics
# store), not an archive: rows older than this, by the samples' own clock, are dropped.
METERING_KEEP_SECONDS = 86400.0
PRUNE_EVERY = 500  # metering writes between prunes


class MasterStore:
    def __init__(self, url: str, metering_keep_seconds: float = METERING_KEEP_SECONDS):
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.metering_keep_seconds = metering_keep_seconds
        self._meterings = 0

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ----------------------------------------------------------------------------

    def apply(self, commands: Iterable[object]) -> int:
        """Persist every `Persist` command in one transaction; returns how many."""
        todo = [c for c in commands if isinstance(c, C.Persist)]
        if not todo:
            return 0
        with self._sessions.begin() as session:
            for cmd in todo:
                self._apply_one(session, cmd)
        return len(todo)

    def _apply_one(self, session: Session, cmd: C.Persist) -> None:
        if isinstance(cmd, C.SaveAgent):
            a = cmd.agent
            session.merge(AgentRow(
                id=a.id, hostname=a.hostname, endpoint=a.endpoint,
                attributes=dict(a.attributes), total=a.total.to_json(),
                spare=a.spare.to_json(), registered_at=a.registered_at,
                last_seen=a.last_seen, lost=a.lost))
        elif isinstance(cmd, C.SaveFramework):
            f = cmd.framework
            session.merge(FrameworkRow(
                id=f.id, name=f.name, user=f.user, roles=list(f.roles),
                capabilities=sorted(f.capabilities), info=_jsonable(f.info),
                registered_at=f.registered_at, suppressed=f.suppressed, removed=f.removed))
        elif isinstance(cmd, C.ForgetFramework):
            row = session.get(FrameworkRow, cmd.framework_id)
            if row is not None:
                session.delete(row)
        elif isinstance(cmd, C.SaveTask):
            t = cmd.task
            session.merge(TaskRow(
                id=t.id, framework_id=t.framework_id, agent_id=t.agent_id, name=t.name,
                state=t.state.value, reason=t.reason, message=t.message,
                resources=t.resources.to_json(), spec=t.spec.model_dump(mode="json"),
                container_id=t.container_id, exit_code=t.exit_code, healthy=t.healthy,
                created_at=t.created_at, updated_at=t.updated_at))
        elif isinstance(cmd, C.ForgetTask):
            session.execute(delete(TaskRow).where(TaskRow.id == cmd.task_id))
            session.execute(delete(TaskStatusRow).where(TaskStatusRow.task_id == cmd.task_id))
        elif isinstance(cmd, C.RecordStatus):
            session.add(TaskStatusRow(task_id=cmd.task_id, state=cmd.state, reason=cmd.reason,
                                      message=cmd.message, at=cmd.at))
        elif isinstance(cmd, C.RecordMetering):
            session.add_all(MeteringRow(task_id=s.task_id, agent_id=cmd.agent_id, t=s.t,
                                        cpus=s.cpus, mem=s.mem,
                                        fields=_fields(s)) for s in cmd.samples)
            session.add_all(MeteringRow(task_id="", agent_id=cmd.agent_id, t=n.t, cpus=0.0,
                                        mem=0.0, fields=dict(n.fields)) for n in cmd.node)
            self._meterings += 1
            newest = max([s.t for s in cmd.samples] + [n.t for n in cmd.node], default=None)
            if newest is not None and self._meterings % PRUNE_EVERY == 1:
                session.execute(delete(MeteringRow).where(
                    MeteringRow.t < newest - self.metering_keep_seconds))
        else:
            raise TypeError(f"the store cannot persist {type(cmd).__name__}")

    # -- reads -----------------------------------------------------------------------------

    def load(self) -> Snapshot:
        with self._sessions() as session:
            agents = tuple(
                AgentRecord(id=r.id, hostname=r.hostname, endpoint=r.endpoint,
                            attributes=dict(r.attributes), total=Resources.from_json(r.total),
                            spare=Resources.from_json(r.spare), registered_at=r.registered_at,
                            last_seen=r.last_seen, lost=r.lost)
                for r in session.scalars(select(AgentRow).order_by(AgentRow.id)))
            frameworks = tuple(
                FrameworkRecord(id=r.id, name=r.name, user=r.user, roles=tuple(r.roles),
                                capabilities=frozenset(r.capabilities), info=dict(r.info),
                                registered_at=r.registered_at, suppressed=r.suppressed,
                                removed=r.removed)
                for r in session.scalars(select(FrameworkRow).order_by(FrameworkRow.id)))
            tasks = tuple(
                TaskRecord(id=r.id, framework_id=r.framework_id, agent_id=r.agent_id,
                           name=r.name, state=TaskState(r.state),
                           resources=Resources.from_json(r.resources),
                           spec=LaunchSpec.model_validate(r.spec), reason=r.reason,
                           message=r.message, container_id=r.container_id,
                           exit_code=r.exit_code, healthy=r.healthy, created_at=r.created_at,
                           updated_at=r.updated_at, counted_by_agent=True)
                for r in session.scalars(select(TaskRow).order_by(TaskRow.id)))
        return Snapshot(agents, frameworks, tasks)

    def status_history(self, task_id: str) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(select(TaskStatusRow).where(TaskStatusRow.task_id == task_id)
                                   .order_by(TaskStatusRow.id))
            return [{"state": r.state, "reason": r.reason, "message": r.message, "at": r.at}
                    for r in rows]

    def metering(self, task_id: str) -> list[dict[str, Any]]:
        with self._sessions() as session:
            rows = session.scalars(select(MeteringRow).where(MeteringRow.task_id == task_id)
                                   .order_by(MeteringRow.t, MeteringRow.id))
            return [{**(r.fields or {}), "t": r.t, "cpus": r.cpus, "mem": r.mem,
                     "agent_id": r.agent_id} for r in rows]

    def metering_since(self, since: float, limit: int = 10_000, after: int | None = None
                       ) -> dict[str, Any]:
        """Task samples and node measurements newer than `since` (oldest first), or, with
        `after`, stored after the row of that id (so a late agent's samples are not
        missed), for frameworks that poll for usage; `last` is the newest row's id."""
        with self._sessions() as session:
            query = select(MeteringRow, AgentRow.hostname).join(
                AgentRow, AgentRow.id == MeteringRow.agent_id, isouter=True)
            if after is not None:
                query = query.where(MeteringRow.id > after).order_by(MeteringRow.id)
            else:
                query = query.where(MeteringRow.t > since).order_by(MeteringRow.t,
                                                                     MeteringRow.id)
            samples, node, last = [], [], after or 0
            for r, hostname in session.execute(query.limit(limit)):
                last = max(last, r.id)
                where = {"agent_id": r.agent_id, "hostname": hostname, "t": r.t}
                if r.task_id:
                    samples.append({**(r.fields or {}), "task_id": r.task_id, "cpus": r.cpus,
                                    "mem": r.mem, **where})
                else:
                    node.append({**(r.fields or {}), **where})
            return {"samples": samples, "node": node, "last": last}


def _fields(sample: Any) -> dict[str, float] | None:
    """A task sample's further numbers as stored: its fields, and its current limits as
    `cpu_limit` and `mem_limit` (metrics of their own in the framework's store)."""
    fields = dict(sample.fields)
    if sample.limits is not None:
        fields["cpu_limit"], fields["mem_limit"] = sample.limits
    return fields or None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
