"""The master's tables (SQLAlchemy 2). Prefixed `master_` so other roles can share the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AgentRow(Base):
    __tablename__ = "master_agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(253))
    endpoint: Mapped[str] = mapped_column(String(512), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spare: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registered_at: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)
    lost: Mapped[bool] = mapped_column(Boolean, default=False)


class FrameworkRow(Base):
    __tablename__ = "master_frameworks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    user: Mapped[str] = mapped_column(String(256), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registered_at: Mapped[float] = mapped_column(Float)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)


class TaskRow(Base):
    __tablename__ = "master_tasks"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    framework_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    container_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    healthy: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class TaskStatusRow(Base):
    __tablename__ = "master_task_statuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(256), index=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[float] = mapped_column(Float)


class MeteringRow(Base):
    __tablename__ = "master_metering_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(256), index=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    t: Mapped[float] = mapped_column(Float)
    cpus: Mapped[float] = mapped_column(Float)
    mem: Mapped[float] = mapped_column(Float)
    # further numbers by name (a task's limits...; a node's measurements when task_id is "")
    fields: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
