"""Alembic environment for the framework's tables; run programmatically by framework.store."""

from __future__ import annotations

from alembic import context

from framework.models import Base

config = context.config
VERSION_TABLE = "framework_alembic_version"

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      literal_binds=True)
else:
    context.configure(connection=config.attributes["connection"],
                      target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
