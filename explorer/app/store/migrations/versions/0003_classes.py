"""Classes: a teacher's class and its students, and which runs a class's board shows.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("challenge", sa.Text(), nullable=False),
        sa.Column("board_open", sa.Boolean(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("class_code", sa.String(6), sa.ForeignKey("classes.code", ondelete="CASCADE"), nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(24), nullable=False),
        sa.Column("name_hidden", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("class_code", "session_hash", name="uq_members_class_session"),
    )
    op.create_index("ix_members_session_hash", "members", ["session_hash"])
    # Added columns with server defaults: the runs already stored are in no class, shown, with no figures yet.
    op.add_column("runs", sa.Column("class_code", sa.String(6), nullable=True))
    op.add_column("runs", sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("runs", sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("runs", sa.Column("figures", sa.Text(), nullable=False, server_default="{}"))
    op.create_index("ix_runs_class_code", "runs", ["class_code"])


def downgrade() -> None:
    op.drop_index("ix_runs_class_code", "runs")
    with op.batch_alter_table("runs") as batch:  # SQLite drops columns by copying the table
        for column in ("figures", "hidden", "withdrawn", "class_code"):
            batch.drop_column(column)
    op.drop_index("ix_members_session_hash", "members")
    op.drop_table("members")
    op.drop_table("classes")
