"""Users with roles and password hashes, their namespaces, API tokens.

Revision ID: a0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "access_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "access_user_namespaces",
        sa.Column("user", sa.String(64),
                  sa.ForeignKey("access_users.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("namespace", sa.String(63), primary_key=True),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("user", sa.String(64),
                  sa.ForeignKey("access_users.name", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("namespace", sa.String(63), nullable=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for table in ("access_tokens", "access_user_namespaces", "access_users", "access_meta"):
        op.drop_table(table)
