"""Jobs: a submission is a Charmander task or a job JSON; instances know their slot.

An existing data dir carries over as it is: its submissions are Charmander tasks (each a
job of its own), and their instances fill slot (0, 0), or a node for one-per-node tasks.

Revision ID: f0003_jobs
Revises: f0002_idempotency
"""

import sqlalchemy as sa
from alembic import op

revision = "f0003_jobs"
down_revision = "f0002_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("framework_submissions") as table:
        table.add_column(sa.Column("kind", sa.String(8), nullable=False,
                                   server_default="task"))
        table.add_column(sa.Column("count", sa.Integer, nullable=True))
        table.add_column(sa.Column("steps", sa.JSON, nullable=True))
    with op.batch_alter_table("framework_instances") as table:
        table.add_column(sa.Column("slot_template", sa.Integer, nullable=True))
        table.add_column(sa.Column("slot_index", sa.Integer, nullable=True))
        table.add_column(sa.Column("exit_code", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("framework_instances") as table:
        table.drop_column("exit_code")
        table.drop_column("slot_index")
        table.drop_column("slot_template")
    with op.batch_alter_table("framework_submissions") as table:
        table.drop_column("steps")
        table.drop_column("count")
        table.drop_column("kind")
