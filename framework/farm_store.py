"""Farms on disk (migration f0010_farms): one row a farm, its facts as one JSON document
(framework.farms.farm_json), so a farm and all it learned (samples, the chosen pool, the
forecast) are written in one statement.

Blocking, like `framework.store`: called on a worker thread. A write the database cannot
take raises StoreUnavailable and changed nothing.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, String, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from framework.farms import Farm, farm_from_json, farm_json
from framework.models import Base
from framework.store import StoreUnavailable


class FarmRow(Base):
    __tablename__ = "framework_farms"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    doc: Mapped[dict] = mapped_column(JSON)


def _unavailable(exc: OperationalError) -> StoreUnavailable:
    return StoreUnavailable(str(getattr(exc, "orig", exc)).splitlines()[0])


class FarmStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, farm: Farm) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(FarmRow.__table__.insert().values(
                    id=farm.id, namespace=farm.namespace, created_at=farm.created_at,
                    doc=farm_json(farm)))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def save(self, farm: Farm) -> None:
        t = FarmRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(update(t).where(t.c.id == farm.id).values(doc=farm_json(farm)))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def delete(self, farm_id: str) -> None:
        t = FarmRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(t.delete().where(t.c.id == farm_id))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def all(self) -> list[Farm]:
        t = FarmRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.doc).order_by(t.c.created_at)).all()
        return [farm_from_json(r[0]) for r in rows]
