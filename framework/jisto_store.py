"""Jisto's jobs on disk: each draft (name, namespace, options, last operation) and its
tasks, in the framework's database (migration f0004), so a job created and given tasks
survives a restart before it ever runs. What runs is a berth job in the submissions
table like any other; nothing of its instances is kept here.

Blocking, like `framework.store`: the driver calls it on a worker thread. A write that
the database cannot take raises StoreUnavailable and changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from framework.models import Base
from framework.store import StoreUnavailable
from offers.jisto import JistoJob, JistoTask, JobOptions


class JistoJobRow(Base):
    """One Jisto job: what `POST /v1/job` or `/v1/jobsource` created."""

    __tablename__ = "framework_jisto_jobs"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    namespace: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[float] = mapped_column(Float)
    options: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    op: Mapped[str | None] = mapped_column(String(16), nullable=True)


class JistoTaskRow(Base):
    """One task of a Jisto job: `count` runs of `image` with `env`, in the order added."""

    __tablename__ = "framework_jisto_tasks"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("framework_jisto_jobs.uuid", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    image: Mapped[str] = mapped_column(String(512))
    env: Mapped[dict] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)


class JistoStore:
    """Reads and writes of Jisto jobs on the framework's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> list[JistoJob]:
        """Every Jisto job with its tasks, oldest first."""
        with self.engine.connect() as conn:
            jobs = conn.execute(select(JistoJobRow).order_by(
                JistoJobRow.created_at, JistoJobRow.uuid)).all()
            tasks = conn.execute(select(JistoTaskRow).order_by(
                JistoTaskRow.job_uuid, JistoTaskRow.seq)).all()
        by_job: dict[str, list[JistoTask]] = {}
        for row in tasks:
            by_job.setdefault(row.job_uuid, []).append(
                JistoTask(row.uuid, row.image, tuple(sorted(row.env.items())), row.count,
                          row.name))
        return [JistoJob(row.uuid, row.name, row.namespace, row.created_at,
                         tuple(by_job.get(row.uuid, ())),
                         None if row.options is None else JobOptions.model_validate(
                             row.options),
                         row.op) for row in jobs]

    def create(self, job: JistoJob) -> None:
        """A new job with the tasks it starts with."""
        def write(conn: Connection) -> None:
            conn.execute(JistoJobRow.__table__.insert().values(
                uuid=job.uuid, name=job.name, namespace=job.namespace,
                created_at=job.created_at, op=job.op,
                options=None if job.options is None else job.options.model_dump(
                    mode="json")))
            self._add_tasks(conn, job.uuid, 0, job.tasks)
        self._write(write)

    def add_task(self, job: JistoJob, task: JistoTask) -> None:
        """`task` after the job's tasks (`job` as it was before)."""
        self._write(lambda conn: self._add_tasks(conn, job.uuid, len(job.tasks), (task,)))

    def set_op(self, uuid: str, op: str) -> None:
        self._write(lambda conn: conn.execute(update(JistoJobRow).where(
            JistoJobRow.uuid == uuid).values(op=op)))

    def delete(self, uuid: str) -> None:
        def write(conn: Connection) -> None:
            conn.execute(delete(JistoTaskRow).where(JistoTaskRow.job_uuid == uuid))
            conn.execute(delete(JistoJobRow).where(JistoJobRow.uuid == uuid))
        self._write(write)

    @staticmethod
    def _add_tasks(conn: Connection, job_uuid: str, first: int,
                   tasks: tuple[JistoTask, ...]) -> None:
        if tasks:
            conn.execute(JistoTaskRow.__table__.insert(), [
                {"uuid": t.uuid, "job_uuid": job_uuid, "seq": first + i, "image": t.image,
                 "env": dict(t.env), "count": t.count, "name": t.name}
                for i, t in enumerate(tasks)])

    def _write(self, body: Callable[[Connection], object]) -> None:
        try:
            with self.engine.begin() as conn:
                body(conn)
        except OperationalError as exc:  # the disk or the server, not the data
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreUnavailable(reason) from exc
