"""Reading the recorded history back (framework/history.py) for a window of time, with
each instance's metered peak from the metrics store in the same database: what
`berth sim --replay-from` turns into a workload. Read only: nothing is created or
written (an older metrics store is brought to this version, as every process opening it
does), and any database problem is one `HistoryUnreadable` saying what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from framework.history import (
    AGENT_LOSSES,
    AGENTS_SEEN,
    HISTORY,
    REFRESH,
    SPECS,
    AgentLoss,
    AgentSeen,
)
from persistence.metrics import MetricsStore

METRICS_TABLE = "metric_series"  # the metrics store's (persistence/metrics_models.py)


class HistoryUnreadable(Exception):
    """The URL is not a readable berth store, or it holds no history."""


@dataclass(frozen=True)
class InstanceRun:
    """One task instance as recorded; `peak` its metered (cpus, mem) in the window."""

    task_id: str
    submission_id: str
    slot: str | None
    submitted_at: float
    started_at: float | None
    ended_at: float | None
    state: str
    hostname: str | None
    spec: dict
    peak: tuple[float, float] | None


@dataclass(frozen=True)
class RecordedHistory:
    runs: list[InstanceRun]  # by submission time, then id
    agents: list[AgentSeen]
    losses: list[AgentLoss]


def read_history(url: str, since: float, until: float) -> RecordedHistory:
    """The instances that were submitted before `until` and had not ended by `since`,
    the agents offered in the window and the agents lost in it."""
    engine = _engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        if HISTORY.name not in tables:
            raise HistoryUnreadable(
                f"{_shown(url)} holds no berth history (no {HISTORY.name} table: not a "
                "berth framework store, or one from before history was recorded)")
        with engine.connect() as conn:
            rows = conn.execute(select(HISTORY, SPECS.c.spec).outerjoin(
                SPECS, SPECS.c.key == HISTORY.c.spec_key).where(
                HISTORY.c.submitted_at < until,
                or_(HISTORY.c.ended_at.is_(None), HISTORY.c.ended_at >= since)).order_by(
                    HISTORY.c.submitted_at, HISTORY.c.task_id)).all()
            agents = conn.execute(select(AGENTS_SEEN).where(
                AGENTS_SEEN.c.first_seen < until,
                AGENTS_SEEN.c.last_seen >= since - REFRESH)).all()
            losses = conn.execute(select(AGENT_LOSSES).where(
                AGENT_LOSSES.c.at >= since, AGENT_LOSSES.c.at < until).order_by(
                    AGENT_LOSSES.c.at, AGENT_LOSSES.c.id)).all()
        peaks = _peaks(engine, since, until) if METRICS_TABLE in tables else {}
    except SQLAlchemyError as exc:
        raise HistoryUnreadable(f"cannot read {_shown(url)}: "
                                f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
                                ) from None
    finally:
        engine.dispose()
    return RecordedHistory(
        runs=[InstanceRun(r.task_id, r.submission_id, r.slot, r.submitted_at, r.started_at,
                          r.ended_at, r.state, r.hostname, dict(r.spec or {}),
                          peaks.get(r.task_id))
              for r in rows],
        agents=[AgentSeen(a.agent_id, a.hostname, a.cpus, a.mem, a.disk,
                          dict(a.attributes or {}), a.last_seen) for a in agents],
        losses=[AgentLoss(x.agent_id, x.hostname, x.at) for x in losses])


def _engine(url: str):
    """An engine that creates nothing: a SQLite file must already be there."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database or ""
            if not path or path == ":memory:" or not Path(path).is_file():
                raise HistoryUnreadable(f"{url}: no such SQLite file (give the store of "
                                        "`berth up`, e.g. sqlite:///DATA_DIR/berth.db)")
        return create_engine(parsed)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise HistoryUnreadable(f"{_shown(url)} is not a database URL ({exc})") from None


def _shown(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "the URL"


def _peaks(engine, since: float, until: float) -> dict[str, tuple[float, float]]:
    """Each instance's metered peak cpus and mem in the window (both, or none)."""
    store = MetricsStore(engine=engine)
    found: dict[str, dict[str, float]] = {}
    for metric in ("cpu", "mem"):
        for row in store.query(metric, start=since, end=until, agg="max",
                               group_by="instance"):
            instance = row["group"].get("instance")
            if instance is not None and row["value"] is not None:
                found.setdefault(instance, {})[metric] = row["value"]
    return {k: (v["cpu"], v["mem"]) for k, v in found.items() if len(v) == 2}
