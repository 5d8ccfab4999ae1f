"""Snapshots: a run's newest sample grids, so a reloaded run shows its film strip.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("step", sa.Integer(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("images", sa.LargeBinary(), nullable=False),
        sa.Column("push", sa.LargeBinary(), nullable=True),
        sa.Column("verdicts", sa.LargeBinary(), nullable=True),
        sa.Column("probabilities", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
