"""Alembic environment for the master's tables; run programmatically by master.store."""

from __future__ import annotations

from alembic import context

from master.models import Base

config = context.config
VERSION_TABLE = "master_alembic_version"


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    context.configure(connection=connection, target_metadata=Base.metadata,
                      version_table=VERSION_TABLE, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
