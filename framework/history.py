"""The framework's recorded history: what `berth sim --replay-from` replays.

The instance table keeps each instance's latest state only (and is trimmed with its
jobs), so the store writer also keeps, in the same transaction, one history row per
instance (submitted, started, ended, end state, host), the spec of each submission (or
job template) once, the agents offered (the largest offer of each: its capacity as berth
saw it) and the agents lost. Instance rows are upserts of a few numbers keyed by the
instance: a batch of records costs one statement more, and a spec is turned into JSON
only the first time (25-60 % more time per batch of records than without history, where
a spec per row cost about twice that; docs/framework.md). Rows that ended before the retention are deleted
every `PRUNE_EVERY` seconds of the records' time, inside a batch (indexed deletes),
never per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import JSON, Column, Float, Integer, String, Table, delete, func, select

from framework.models import Base
from framework.records import TaskRecord
from offers.states import TERMINAL
from offers.task import TaskSpec

DEFAULT_RETENTION = 30 * 86400.0  # seconds of history kept (`--history-retention`)
PRUNE_EVERY = 600.0
REFRESH = 3600.0  # seconds between writes of an unchanged agent's last seen time

# Declared on the models' metadata (migration f0009).
HISTORY = Table(
    "framework_history", Base.metadata,
    Column("task_id", String(200), primary_key=True),
    Column("submission_id", String(160), nullable=False),
    Column("slot", String(32), nullable=True),  # "template:index"; None: one per node
    Column("submitted_at", Float, nullable=False, index=True),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True, index=True),
    Column("state", String(16), nullable=False),
    Column("agent_id", String(128), nullable=True),
    Column("hostname", String(253), nullable=True),
    Column("spec_key", String(200), nullable=False),  # SPECS.key
    Column("updated_at", Float, nullable=False),
)
SPECS = Table(  # a submission's spec (a job's: per template), written once
    "framework_history_specs", Base.metadata,
    Column("key", String(200), primary_key=True),  # "submission id:template" ("n": per node)
    Column("spec", JSON, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)
MAX_KNOWN_SPECS = 100_000  # keys remembered as written; past that, written again (no-op)
AGENTS_SEEN = Table(
    "framework_agents_seen", Base.metadata,
    Column("agent_id", String(128), primary_key=True),
    Column("hostname", String(253), nullable=False),
    Column("cpus", Float, nullable=False),
    Column("mem", Float, nullable=False),
    Column("disk", Float, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False, index=True),
)
AGENT_LOSSES = Table(
    "framework_agent_losses", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agent_id", String(128), nullable=False),
    Column("hostname", String(253), nullable=True),
    Column("at", Float, nullable=False, index=True),
)


@dataclass(frozen=True)
class AgentSeen:
    """An agent as offers showed it: the largest offer so far of each resource."""

    agent_id: str
    hostname: str
    cpus: float
    mem: float
    disk: float
    attributes: dict[str, str] = field(default_factory=dict)
    seen_at: float = 0.0


@dataclass(frozen=True)
class AgentLoss:
    agent_id: str
    hostname: str | None
    at: float


class HistoryWriter:
    """The history's statements, built once for the store's dialect, and its pruning."""

    def __init__(self, insert, dialect: str, retention: float = DEFAULT_RETENTION) -> None:
        self.retention = retention
        self._pruned_at = 0.0
        self._written: set[str] = set()  # spec keys committed to SPECS
        self._unconfirmed: set[str] = set()  # written by the batch not yet committed
        stmt = insert(HISTORY)
        old = HISTORY.c
        # The first submission time and start stay (a recovered record's running time is
        # its recovery, not its start); the rest follows the instance.
        self._upsert = stmt.on_conflict_do_update(index_elements=["task_id"], set_={
            "state": stmt.excluded.state, "ended_at": stmt.excluded.ended_at,
            "started_at": func.coalesce(old.started_at, stmt.excluded.started_at),
            "agent_id": func.coalesce(stmt.excluded.agent_id, old.agent_id),
            "hostname": func.coalesce(stmt.excluded.hostname, old.hostname),
            "updated_at": stmt.excluded.updated_at})
        self._insert_new = insert(HISTORY).on_conflict_do_nothing(index_elements=["task_id"])
        self._insert_specs = insert(SPECS).on_conflict_do_nothing(index_elements=["key"])
        agents = insert(AGENTS_SEEN)
        larger = func.greatest if dialect == "postgresql" else func.max
        self._agents = agents.on_conflict_do_update(index_elements=["agent_id"], set_={
            **{name: larger(AGENTS_SEEN.c[name], agents.excluded[name])
               for name in ("cpus", "mem", "disk")},
            "hostname": agents.excluded.hostname, "attributes": agents.excluded.attributes,
            "last_seen": agents.excluded.last_seen})

    def write(self, conn, submissions: Sequence[tuple], records: Sequence[TaskRecord],
              agents: Sequence[AgentSeen], losses: Sequence[AgentLoss]) -> None:
        """Add this batch's history (in the batch's transaction) and prune now and then."""
        specs: dict[str, dict] = {}
        self._unconfirmed = set()  # a batch that failed wrote nothing: write them again
        if submissions:
            conn.execute(self._insert_new, [
                {"task_id": s[0], "submission_id": s[0], "slot": "0:0", "submitted_at": s[2],
                 "state": "PENDING", "spec_key": self._spec(specs, s[0], 0, s[1], s[2]),
                 "updated_at": s[2]} for s in submissions])
        if records:
            rows = [self._row(r, specs) for r in records]
            if specs:
                conn.execute(self._insert_specs, list(specs.values()))
            conn.execute(self._upsert, rows)
        elif specs:
            conn.execute(self._insert_specs, list(specs.values()))
        if agents:
            conn.execute(self._agents, [
                {"agent_id": a.agent_id, "hostname": a.hostname, "cpus": a.cpus,
                 "mem": a.mem, "disk": a.disk, "attributes": dict(a.attributes),
                 "first_seen": a.seen_at, "last_seen": a.seen_at} for a in agents])
        if losses:
            conn.execute(AGENT_LOSSES.insert(), [
                {"agent_id": x.agent_id, "hostname": x.hostname, "at": x.at} for x in losses])
        self._unconfirmed = set(specs)
        times = [r.updated_at for r in records] + [a.seen_at for a in agents] \
            + [x.at for x in losses]
        if times and max(times) - self._pruned_at >= PRUNE_EVERY:
            self.prune(conn, max(times))

    def confirm(self) -> None:
        """The batch committed: its specs need not be written again."""
        if len(self._written) + len(self._unconfirmed) > MAX_KNOWN_SPECS:
            self._written.clear()
        self._written |= self._unconfirmed
        self._unconfirmed = set()

    def forget(self) -> None:
        """The batch was rolled back: its specs were not written."""
        self._unconfirmed = set()

    def prune(self, conn, now: float) -> None:
        """Forget what ended before the retention period: ended instances, agents not
        offered since, losses. Instances still running are kept, however old."""
        cutoff = now - self.retention
        conn.execute(delete(HISTORY).where(HISTORY.c.ended_at < cutoff))
        conn.execute(delete(SPECS).where(SPECS.c.created_at < cutoff, SPECS.c.key.not_in(
            select(HISTORY.c.spec_key))))
        conn.execute(delete(AGENTS_SEEN).where(AGENTS_SEEN.c.last_seen < cutoff))
        conn.execute(delete(AGENT_LOSSES).where(AGENT_LOSSES.c.at < cutoff))
        self._pruned_at = now

    def _row(self, r: TaskRecord, specs: dict[str, dict]) -> dict:
        ended = r.updated_at if r.state in TERMINAL else None
        template = None if r.slot is None else r.slot[0]
        return {"task_id": r.task_id, "submission_id": r.submission_id,
                "slot": None if r.slot is None else f"{r.slot[0]}:{r.slot[1]}",
                # a restart waits out its backoff: it was asked for once that ended
                "submitted_at": max(r.created_at, r.not_before), "started_at": r.running_at,
                "ended_at": ended, "state": str(r.state), "agent_id": r.agent_id,
                "hostname": r.hostname,
                "spec_key": self._spec(specs, r.submission_id, template, r.spec, r.created_at),
                "updated_at": r.updated_at}

    def _spec(self, specs: dict[str, dict], submission_id: str, template: int | None,
              spec: TaskSpec, at: float) -> str:
        """The key of a submission's (template's) spec, queued for writing the first time."""
        key = f"{submission_id}:{'n' if template is None else template}"
        if key not in self._written and key not in specs:
            specs[key] = {"key": key, "spec": spec.to_json(), "created_at": at}
        return key
