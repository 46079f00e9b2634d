"""The audit log's records and its table: appended in batches, read newest first, pruned
to a retention window (the rotation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from access.models import AUDIT

DEFAULT_RETENTION = 30 * 86400.0


@dataclass(frozen=True)
class AuditEntry:
    at: float
    principal: str
    remote: str
    surface: str
    action: str
    status: int
    detail: str = ""

    def row(self) -> dict:
        d = asdict(self)
        d["action"], d["detail"] = d["action"][:300], d["detail"][:500]
        d["principal"], d["remote"] = d["principal"][:64], d["remote"][:64]
        return d


def append(engine: Engine, entries: Sequence[AuditEntry]) -> None:
    if entries:
        with engine.begin() as c:
            c.execute(insert(AUDIT), [e.row() for e in entries])


def read(engine: Engine, *, since: float = 0.0, principal: str | None = None,
         limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    query = select(AUDIT).where(AUDIT.c.at >= since)
    if principal is not None:
        query = query.where(AUDIT.c.principal == principal)
    query = query.order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(limit)
    with engine.connect() as c:
        return [AuditEntry(r.at, r.principal, r.remote, r.surface, r.action, r.status,
                           r.detail) for r in c.execute(query)]


def prune(engine: Engine, before: float) -> int:
    """Drop what is older than `before`; how many went."""
    with engine.begin() as c:
        return c.execute(delete(AUDIT).where(AUDIT.c.at < before)).rowcount
