"""The framework's tables: what it accepted (submissions: Charmander tasks and jobs) and
each task instance it launched.

Kept apart from the master's tables (own names, own Alembic version table) so both roles
can share one database.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Float, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    """One accepted job: a Charmander task (`kind` "task", `spec` the task JSON, `id` its
    internal id) or a job JSON (`kind` "job", `id` its name); whether it is still wanted
    (not stopped or killed); the count a scale set and the steps still to come."""

    __tablename__ = "framework_submissions"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    wanted: Mapped[bool] = mapped_column(Boolean, default=True)
    kind: Mapped[str] = mapped_column(String(8), default="task", server_default="task")
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    steps: Mapped[list | None] = mapped_column(JSON, nullable=True)
    size: Mapped[list | None] = mapped_column(JSON, nullable=True)  # [cpus, mem] resized


class InstanceRow(Base):
    """One task instance (a Mesos task id) as the scheduler last saw it."""

    __tablename__ = "framework_instances"

    task_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    submission_id: Mapped[str] = mapped_column(String(160), index=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    hostname: Mapped[str | None] = mapped_column(String(253), nullable=True)
    container_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    by_usage: Mapped[bool] = mapped_column(Boolean, default=False)
    killed: Mapped[bool] = mapped_column(Boolean, default=False)
    launched_spec: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    slot_template: Mapped[int | None] = mapped_column(Integer, nullable=True)
    slot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: per node
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MetaRow(Base):
    """Small facts the framework must remember across restarts (its framework id)."""

    __tablename__ = "framework_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
