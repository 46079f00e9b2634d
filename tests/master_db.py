"""Database URLs for store tests: a fresh SQLite file, and a fresh PostgreSQL database when
BERTH_TEST_POSTGRES_URL is set (scripts/postgres.sh starts one)."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get("BERTH_TEST_POSTGRES_URL")


def _fresh_postgres_db() -> tuple[str, object]:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"berth_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'berth.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("BERTH_TEST_POSTGRES_URL is not set (run scripts/postgres.sh)")
    url, drop = _fresh_postgres_db()
    try:
        yield url
    finally:
        drop()
