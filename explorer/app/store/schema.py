"""The store's tables, as SQLAlchemy 2 typed declarative classes (the migrations in migrations/versions make
the same tables; tests/test_store_migrations.py checks that the two agree).

    sessions   one row per browser session, keyed by the SHA-256 of its token (the token is never stored)
    runs       what a run is and where it stands: name, source, config, meta, lesson, status, step, its size
    records    its chart rows, quality readings, live changes, step-mode nudges and settings (JSON)
    snapshots  its newest sample grids (uint8 pixels, zlib; the newest may carry D's push and verdicts)
    weights    its safetensors checkpoint bytes, "latest" (while it trains) and "final", with their SHA-256
    classes    a teacher's class (explorer.app.classes): its code, the SHA-256 of its key, its challenge, its switches
    members    a student of a class: the session (by its token's hash) and the display name it gave

A run started in a class carries its class's code (`runs.class_code`), whether its student withdrew it from the
board and whether the teacher hid it, and its newest quality figures (`runs.figures`), so that a board reads one
row per run and never a record.

Times are UTC. `runs.size` is the bytes the run holds in all (record, snapshots and weights), for the size budget.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token).hexdigest()
    run_counter: Mapped[int] = mapped_column(Integer, default=0)
    current_run_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: an evicted run leaves NULL
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), ForeignKey("sessions.token_hash", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # trained, uploaded, demo
    config: Mapped[str] = mapped_column(Text)  # GANConfig.to_json()
    meta: Mapped[str] = mapped_column(Text)  # JSON object
    lesson: Mapped[str] = mapped_column(String(100), default="")
    fix_of: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20))  # explorer.progress.Status
    reason: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    class_code: Mapped[str | None] = mapped_column(String(6))  # no foreign key: a deleted class lets its runs be
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # by its student
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # by the teacher
    figures: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # the newest quality reading's

    __table_args__ = (Index("ix_runs_session_hash", "session_hash"), Index("ix_runs_updated_at", "updated_at"),
                      Index("ix_runs_status", "status"), Index("ix_runs_class_code", "class_code"))


class ClassRow(Base):
    __tablename__ = "classes"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256(key).hexdigest(): the key itself is never stored
    challenge: Mapped[str] = mapped_column(Text)  # JSON object, {} without a challenge
    board_open: Mapped[bool] = mapped_column(Boolean)  # students may see the board (read-only)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MemberRow(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_code: Mapped[str] = mapped_column(String(6), ForeignKey("classes.code", ondelete="CASCADE"))
    session_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(24))
    name_hidden: Mapped[bool] = mapped_column(Boolean)
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("class_code", "session_hash", name="uq_members_class_session"),
                      Index("ix_members_session_hash", "session_hash"))


class RecordRow(Base):
    __tablename__ = "records"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    history: Mapped[str] = mapped_column(Text)  # {column: [values]}, thinned as in memory
    readings: Mapped[str] = mapped_column(Text)  # [reading], D's outputs as base64 float32
    changes: Mapped[str] = mapped_column(Text)  # [{step, what, settings}]
    nudges: Mapped[str] = mapped_column(Text)  # the same, for step mode's lone updates
    settings: Mapped[str] = mapped_column(Text)  # the live settings in use
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class SnapshotRow(Base):
    __tablename__ = "snapshots"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)  # samples in the grid
    images: Mapped[bytes] = mapped_column(LargeBinary)  # zlib of (count, 28, 28) uint8
    push: Mapped[bytes | None] = mapped_column(LargeBinary)  # zlib of (count, 28, 28) float16, newest only
    verdicts: Mapped[bytes | None] = mapped_column(LargeBinary)  # (count,) float32
    probabilities: Mapped[bool] = mapped_column(Boolean, default=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class WeightsRow(Base):
    __tablename__ = "weights"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # "latest" or "final"
    step: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # explorer.checkpoints.to_bytes
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
