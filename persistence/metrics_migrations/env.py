"""Alembic environment for the metrics tables; run programmatically by
persistence.metrics (its own version table, so the metrics store migrates on its own)."""

from __future__ import annotations

from alembic import context

from persistence.metrics_models import metadata

config = context.config
VERSION_TABLE = "metrics_alembic_version"

if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      version_table=VERSION_TABLE, literal_binds=True)
else:
    context.configure(connection=config.attributes["connection"], target_metadata=metadata,
                      version_table=VERSION_TABLE, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
