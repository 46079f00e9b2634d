"""The autoscaler's decisions on disk (migration f0006): each with the count it had and
set, its recommendation, its inputs and its reason, the newest `KEEP` per job kept.

Blocking, like `framework.store`: the driver calls it on a worker thread. A write that
the database cannot take raises StoreUnavailable and changed nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import JSON, Float, Index, Integer, String, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from framework.autoscale_book import KEEP
from framework.autoscaling import Decision
from framework.models import Base
from framework.store import StoreUnavailable


class AutoscaleDecisionRow(Base):
    __tablename__ = "framework_autoscale_decisions"
    __table_args__ = (Index("ix_framework_autoscale_decisions_job", "job", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(160))
    at: Mapped[float] = mapped_column(Float)
    current: Mapped[int] = mapped_column(Integer)
    desired: Mapped[int] = mapped_column(Integer)
    recommended: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str] = mapped_column(String(2000))
    inputs: Mapped[dict] = mapped_column(JSON)
    size: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class AutoscaleStore:
    """Reads and writes of decisions on the framework's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, decisions: Sequence[Decision]) -> None:
        """Store decisions; a job's beyond the newest KEEP are deleted."""
        if not decisions:
            return
        table = AutoscaleDecisionRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), [_row(d) for d in decisions])
                for job in sorted({d.job for d in decisions}):
                    cutoff = conn.execute(select(table.c.id).where(table.c.job == job)
                                          .order_by(table.c.id.desc()).offset(KEEP)
                                          .limit(1)).scalar_one_or_none()
                    if cutoff is not None:
                        conn.execute(delete(table).where(table.c.job == job,
                                                         table.c.id <= cutoff))
        except OperationalError as exc:
            raise StoreUnavailable(str(getattr(exc, "orig", exc)).splitlines()[0]) from exc

    def forget(self, jobs: Sequence[str]) -> None:
        if not jobs:
            return
        table = AutoscaleDecisionRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.job.in_(list(jobs))))
        except OperationalError as exc:
            raise StoreUnavailable(str(getattr(exc, "orig", exc)).splitlines()[0]) from exc

    def load(self) -> dict[str, list[Decision]]:
        """Every job's kept decisions, oldest first."""
        table = AutoscaleDecisionRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.id)).all()
        out: dict[str, list[Decision]] = {}
        for row in rows:
            out.setdefault(row.job, []).append(Decision(
                row.job, row.at, row.current, row.desired, row.recommended, row.reason,
                dict(row.inputs), dict(row.size) if row.size else None))
        return {job: decisions[-KEEP:] for job, decisions in out.items()}


def _row(decision: Decision) -> dict:
    return {"job": decision.job, "at": decision.at, "current": decision.current,
            "desired": decision.desired, "recommended": decision.recommended,
            "reason": decision.reason[:2000], "inputs": dict(decision.inputs),
            "size": decision.size}
