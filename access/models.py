"""The access tables: users, their namespaces, API tokens, and a little metadata."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Integer, MetaData, String, Table

metadata = MetaData()

META = Table(
    "access_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)
USERS = Table(
    "access_users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("created_at", Float, nullable=False),
)
USER_NAMESPACES = Table(
    "access_user_namespaces", metadata,
    Column("user", String(64), ForeignKey("access_users.name", ondelete="CASCADE"),
           primary_key=True),
    Column("namespace", String(63), primary_key=True),
)
TOKENS = Table(
    "access_tokens", metadata,
    Column("id", String(12), primary_key=True),
    Column("user", String(64), ForeignKey("access_users.name", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("namespace", String(63), nullable=True),
    Column("scope", String(8), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
)
AUDIT = Table(
    "access_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("principal", String(64), nullable=False, index=True),
    Column("remote", String(64), nullable=False),
    Column("surface", String(16), nullable=False),  # framework, master, cli
    Column("action", String(300), nullable=False),  # "POST /client/task", "user add bob"
    Column("status", Integer, nullable=False),
    Column("detail", String(500), nullable=False),
)
NAMESPACES = Table(
    "access_namespaces", metadata,
    Column("name", String(63), primary_key=True),
    # Quotas; None: no limit.
    Column("cpus", Float, nullable=True),
    Column("mem", Float, nullable=True),
    Column("instances", Integer, nullable=True),
    Column("jobs", Integer, nullable=True),
    # The credit balance; None: the namespace does not pay (no budget).
    Column("credits", Float, nullable=True),
    Column("created_at", Float, nullable=False),
)
