"""Code versions and volumes of Generic services on disk (migration f0007).

Archives are blobs in the framework's database, not files under a data dir: the
framework is given a database URL and nothing else, a version and its archive are then
written (and deleted) in one transaction, and a Postgres-backed framework moved to
another host keeps them. They are small by design (ConPaaS: "a few MBs"; the bound is
offers/script_exec.py's MAX_ARCHIVE_BYTES). Each version keeps the archive as uploaded
(for download) and as a plain tar (what the agents unpack).

Blocking, like `framework.store`: called on a worker thread. A write the database cannot
take raises StoreUnavailable and changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    Integer,
    LargeBinary,
    String,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from framework.models import Base
from framework.store import StoreUnavailable


class CodeVersionRow(Base):
    __tablename__ = "framework_code_versions"

    job: Mapped[str] = mapped_column(String(160), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[float] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean)
    names: Mapped[list] = mapped_column(JSON)
    archive: Mapped[bytes] = mapped_column(LargeBinary)
    tar: Mapped[bytes] = mapped_column(LargeBinary)


class InitRow(Base):
    """init.sh of `version` has run on `instance` (ConPaaS: never twice)."""

    __tablename__ = "framework_generic_inits"

    job: Mapped[str] = mapped_column(String(160), primary_key=True)
    instance: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), primary_key=True)


class VolumeRow(Base):
    __tablename__ = "framework_volumes"

    job: Mapped[str] = mapped_column(String(160), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    instance: Mapped[str] = mapped_column(String(200))
    slot_template: Mapped[int] = mapped_column(Integer)
    slot_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class CodeVersion:
    """A version's facts, without its bytes."""

    job: str
    id: str
    filename: str
    description: str
    created_at: float
    active: bool
    names: tuple[str, ...]
    size: int = 0

    def as_json(self) -> dict:
        return {"id": self.id, "codeVersionId": self.id, "filename": self.filename,
                "description": self.description, "created_at": self.created_at,
                "current": self.active, "size": self.size, "files": list(self.names)}


@dataclass(frozen=True)
class VolumeRecord:
    """A named volume of a job's instance position (`slot`): its instances mount it."""

    job: str
    name: str
    size: int  # MB, as asked (advisory: docs/generic-service.md, "Volumes")
    instance: str  # the instance it was attached to
    slot: tuple[int, int]
    created_at: float


class VersionExists(Exception):
    pass


def _unavailable(exc: OperationalError) -> StoreUnavailable:
    return StoreUnavailable(str(getattr(exc, "orig", exc)).splitlines()[0])


class CodeStore:
    """Reads and writes on the framework's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, version: CodeVersion, archive: bytes, tar: bytes) -> None:
        table = CodeVersionRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(
                    job=version.job, id=version.id, filename=version.filename,
                    description=version.description, created_at=version.created_at,
                    active=version.active, names=list(version.names), archive=archive,
                    tar=tar))
        except IntegrityError as exc:
            raise VersionExists(version.id) from exc
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def versions(self) -> list[CodeVersion]:
        """Every job's versions, oldest first."""
        t = CodeVersionRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(
                t.c.job, t.c.id, t.c.filename, t.c.description, t.c.created_at, t.c.active,
                t.c.names, func.length(t.c.archive))
                .order_by(t.c.created_at)).all()
        return [CodeVersion(r[0], r[1], r[2], r[3], r[4], bool(r[5]), tuple(r[6]), r[7] or 0)
                for r in rows]

    def blob(self, job: str, version: str, column: str) -> bytes | None:
        """`archive` (as uploaded) or `tar` (plain) of one version, None if none."""
        t = CodeVersionRow.__table__
        with self.engine.connect() as conn:
            return conn.execute(select(t.c[column]).where(
                t.c.job == job, t.c.id == version)).scalar_one_or_none()

    def activate(self, job: str, version: str) -> None:
        t = CodeVersionRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(update(t).where(t.c.job == job).values(active=False))
                conn.execute(update(t).where(t.c.job == job, t.c.id == version)
                             .values(active=True))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def delete(self, job: str, version: str | None = None) -> None:
        """One version, or (None) all of a job's versions and volumes."""
        t, v = CodeVersionRow.__table__, VolumeRow.__table__
        try:
            with self.engine.begin() as conn:
                if version is None:
                    conn.execute(delete(t).where(t.c.job == job))
                    conn.execute(delete(v).where(v.c.job == job))
                    i = InitRow.__table__
                    conn.execute(delete(i).where(i.c.job == job))
                else:
                    conn.execute(delete(t).where(t.c.job == job, t.c.id == version))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    # -- init.sh runs ---------------------------------------------------------------------

    def add_init(self, job: str, instance: str, version: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(InitRow.__table__.insert().values(
                    job=job, instance=instance, version=version))
        except IntegrityError:
            pass  # noted already
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def inits(self) -> dict[str, dict[str, set[str]]]:
        """job -> instance -> versions whose init.sh has run there."""
        t = InitRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(t)).all()
        out: dict[str, dict[str, set[str]]] = {}
        for row in rows:
            out.setdefault(row.job, {}).setdefault(row.instance, set()).add(row.version)
        return out

    def forget_inits(self, job: str, instances: list[str] | None = None,
                     version: str | None = None) -> None:
        """A job's (all, or these instances', or this version's) init.sh records."""
        t = InitRow.__table__
        where = [t.c.job == job]
        if instances is not None:
            where.append(t.c.instance.in_(instances))
        if version is not None:
            where.append(t.c.version == version)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t).where(*where))
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    # -- volumes ------------------------------------------------------------------------

    def add_volume(self, volume: VolumeRecord) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(VolumeRow.__table__.insert().values(
                    job=volume.job, name=volume.name, size=volume.size,
                    instance=volume.instance, slot_template=volume.slot[0],
                    slot_index=volume.slot[1], created_at=volume.created_at))
        except IntegrityError as exc:
            raise VersionExists(volume.name) from exc
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def volumes(self) -> list[VolumeRecord]:
        v = VolumeRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(v).order_by(v.c.created_at)).all()
        return [VolumeRecord(r.job, r.name, r.size, r.instance,
                             (r.slot_template, r.slot_index), r.created_at) for r in rows]

    def delete_volume(self, job: str, name: str) -> None:
        v = VolumeRow.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(v).where(v.c.job == job, v.c.name == name))
        except OperationalError as exc:
            raise _unavailable(exc) from exc
