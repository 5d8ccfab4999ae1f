"""A class's rows in the run store: the class, its students and the runs its board shows (explorer.app.classes says
what a class is; this module only reads and writes it).

A board reads one row per run (`runs`, with the newest quality figures kept beside it) and one grid per run, the
newest snapshot, and only for runs whose newest step it has not drawn yet: a refresh of 30 students stays cheap on
SQLite and PostgreSQL alike, whichever replica trained them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ...progress import Snapshot
from . import codec
from .errors import StoreError
from .rows import token_hash
from .runstore import RunStore
from .schema import ClassRow, MemberRow, RunRow, SnapshotRow
from .values import now, utc

FIGURES = ("step", "read_as", "looks_real", "fid")  # what runs.figures holds (codec.figures_text)


class ClassGone(StoreError):
    """No class has this code (never made, deleted, or let go with the store's retention)."""


class NotTeacher(StoreError):
    """A teacher's action without the class's key."""


@dataclass(frozen=True)
class ClassRecord:
    code: str
    challenge: dict  # as stored; explorer.app.classes.Challenge reads it
    board_open: bool
    ended_at: datetime | None
    created_at: datetime
    students: int

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    name_hidden: bool


@dataclass(frozen=True)
class BoardRow:
    """One run on a board: who, which, where it stands, its newest figures and settings."""
    run_id: int
    member_id: int
    student: str
    name_hidden: bool
    run: str
    status: str
    reason: str
    step: int
    figures: dict  # step, read_as, looks_real, fid of the newest reading; {} before the first
    config: str  # GANConfig JSON
    hidden: bool
    updated_at: datetime


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ClassBook:
    """The classes kept in one run store."""

    def __init__(self, store: RunStore):
        self.store = store

    # ---- a class -----------------------------------------------------------------------------------------
    def create(self, code: str, key: str, challenge: dict, board_open: bool, max_classes: int) -> bool:
        """A new class under `code` (False: the code is taken). StoreError when the server holds `max_classes`
        classes that have not ended."""
        moment = now()
        with self.store._db() as db:
            running = db.scalar(select(func.count()).select_from(ClassRow).where(ClassRow.ended_at.is_(None)))
            if running >= max_classes:
                raise StoreError(f"this server already holds {running} classes that have not ended, its most "
                                 f"(GAN_EXPLORER_MAX_CLASSES). End or delete one first")
            if db.get(ClassRow, code) is not None:
                return False
            db.add(ClassRow(code=code, key_hash=key_hash(key), challenge=codec.dumps(challenge), board_open=board_open,
                            ended_at=None, created_at=moment, updated_at=moment))
            return True

    def get(self, code: str) -> ClassRecord:
        with self.store._db() as db:
            row = self._row(db, code)
            students = db.scalar(select(func.count()).select_from(MemberRow).where(MemberRow.class_code == code))
            try:
                challenge = codec.loads(row.challenge, "challenge", dict)
            except codec.BadRow as e:
                raise StoreError(f"class {code}'s challenge cannot be read back: {e}") from None
            return ClassRecord(row.code, challenge, row.board_open, row.ended_at and utc(row.ended_at),
                               utc(row.created_at), int(students))

    def is_teacher(self, code: str, key: str) -> bool:
        with self.store._db() as db:
            row = self._row(db, code)
            return bool(key) and hmac.compare_digest(row.key_hash, key_hash(key))

    def set_board_open(self, code: str, key: str, board_open: bool) -> None:
        with self._teacher(code, key) as (db, row):
            row.board_open, row.updated_at = board_open, now()

    def end(self, code: str, key: str) -> None:
        """The class ends: no more joins or runs; its board stays, frozen, readable."""
        with self._teacher(code, key) as (db, row):
            row.ended_at = row.ended_at or now()
            row.updated_at = now()

    def delete(self, code: str, key: str) -> None:
        """The class and its names go; its runs leave the board and stay their students' own."""
        with self._teacher(code, key) as (db, row):
            db.execute(update(RunRow).where(RunRow.class_code == code).values(class_code=None))
            db.execute(delete(MemberRow).where(MemberRow.class_code == code))
            db.delete(row)

    def hide_run(self, code: str, key: str, run_id: int, hidden: bool) -> None:
        with self._teacher(code, key) as (db, _):
            db.execute(update(RunRow).where(RunRow.id == run_id, RunRow.class_code == code).values(hidden=hidden))

    def hide_name(self, code: str, key: str, member_id: int, hidden: bool) -> None:
        with self._teacher(code, key) as (db, _):
            db.execute(update(MemberRow).where(MemberRow.id == member_id, MemberRow.class_code == code)
                       .values(name_hidden=hidden))

    # ---- its students --------------------------------------------------------------------------------------
    def join(self, code: str, token: str, name: str, max_students: int) -> Member:
        """The session joins the class under `name` (already checked: explorer.app.classes.display_name); a session
        that joined before keeps the name it gave. StoreError when the class has ended or is full."""
        with self.store._db() as db:
            row = self._row(db, code)
            key = token_hash(token)
            found = db.scalar(select(MemberRow).where(MemberRow.class_code == code, MemberRow.session_hash == key))
            if found is not None:
                return Member(found.id, found.name, found.name_hidden)
            if row.ended_at is not None:
                raise StoreError(f"class {code} has ended: its board stays, but nobody can join it now")
            count = db.scalar(select(func.count()).select_from(MemberRow).where(MemberRow.class_code == code))
            if count >= max_students:
                raise StoreError(f"class {code} is full: it has {count} students, the most a class may have")
            member = MemberRow(class_code=code, session_hash=key, name=name, name_hidden=False, joined_at=now())
            db.add(member)
            db.flush()
            return Member(member.id, member.name, False)

    def member(self, code: str, token: str) -> Member | None:
        with self.store._db() as db:
            found = db.scalar(select(MemberRow).where(MemberRow.class_code == code,
                                                      MemberRow.session_hash == token_hash(token)))
            return found and Member(found.id, found.name, found.name_hidden)

    def class_of(self, token: str) -> str | None:
        """The newest class the session joined (for a session brought back after a restart)."""
        with self.store._db() as db:
            return db.scalar(select(MemberRow.class_code).where(MemberRow.session_hash == token_hash(token))
                             .order_by(MemberRow.id.desc()).limit(1))

    def withdraw(self, run_id: int, token: str, withdrawn: bool) -> None:
        """The student takes their run off the board (or puts it back); only the session's own run."""
        with self.store._db() as db:
            db.execute(update(RunRow).where(RunRow.id == run_id, RunRow.session_hash == token_hash(token))
                       .values(withdrawn=withdrawn))

    def class_runs(self, token: str) -> list[tuple[int, str, bool]]:
        """The session's runs that are in a class, oldest first: (run id, name, withdrawn)."""
        with self.store._db() as db:
            found = db.execute(select(RunRow.id, RunRow.name, RunRow.withdrawn)
                               .where(RunRow.session_hash == token_hash(token), RunRow.class_code.is_not(None))
                               .order_by(RunRow.id))
            return [(i, n, bool(w)) for i, n, w in found]

    # ---- the board -----------------------------------------------------------------------------------------
    def board(self, code: str) -> list[BoardRow]:
        """Every run of the class that its student has not withdrawn, oldest first (hidden ones too: the caller
        decides who may see them)."""
        with self.store._db() as db:
            self._row(db, code)
            found = db.execute(
                select(RunRow.id, MemberRow.id, MemberRow.name, MemberRow.name_hidden, RunRow.name, RunRow.status,
                       RunRow.reason, RunRow.step, RunRow.figures, RunRow.config, RunRow.hidden, RunRow.updated_at)
                .join(MemberRow, (MemberRow.class_code == RunRow.class_code)
                      & (MemberRow.session_hash == RunRow.session_hash))
                .where(RunRow.class_code == code, RunRow.withdrawn.is_(False))
                .order_by(RunRow.id)).all()
        return [BoardRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7], _figures(r[8]), r[9], bool(r[10]),
                         utc(r[11])) for r in found]

    def newest_grids(self, known: dict[int, int]) -> dict[int, Snapshot]:
        """The newest snapshot of each run in `known` (run id -> the step the caller last drew), for the runs that
        have a newer one."""
        if not known:
            return {}
        with self.store._db() as db:
            newest = (select(SnapshotRow.run_id, func.max(SnapshotRow.step).label("step"))
                      .where(SnapshotRow.run_id.in_(list(known))).group_by(SnapshotRow.run_id).subquery())
            steps = {i: s for i, s in db.execute(select(newest.c.run_id, newest.c.step))
                     if s != known.get(i)}
            if not steps:
                return {}
            # The pixels alone: D's push map and verdicts (most of a newest row's bytes) are not for the board.
            rows = db.execute(select(SnapshotRow.run_id, SnapshotRow.step, SnapshotRow.count, SnapshotRow.images)
                              .where(SnapshotRow.run_id.in_(list(steps)), SnapshotRow.step.in_(set(steps.values()))))
            out = {}
            for run_id, step, count, data in rows:
                if steps.get(run_id) == step:
                    try:
                        out[run_id] = Snapshot(step, codec.pixels_from(step, count, data))
                    except codec.BadRow:  # an altered grid: that run shows none
                        continue
            return out

    # ---- retention -----------------------------------------------------------------------------------------
    def evict(self, keep_days: float, at: datetime | None = None) -> list[str]:
        """Classes not changed for `keep_days` and with no run written since go, with their names (as runs do)."""
        cutoff = (at or now()) - timedelta(days=keep_days)
        with self.store._db() as db:
            recent = select(RunRow.id).where(RunRow.class_code == ClassRow.code, RunRow.updated_at >= cutoff).exists()
            old = list(db.scalars(select(ClassRow.code).where(ClassRow.updated_at < cutoff, ~recent)))
            if old:
                db.execute(update(RunRow).where(RunRow.class_code.in_(old)).values(class_code=None))
                db.execute(delete(MemberRow).where(MemberRow.class_code.in_(old)))
                db.execute(delete(ClassRow).where(ClassRow.code.in_(old)))
            return old

    # ---- inside --------------------------------------------------------------------------------------------
    @staticmethod
    def _row(db, code: str) -> ClassRow:
        row = db.get(ClassRow, code)
        if row is None:
            raise ClassGone(f"there is no class {code} on this server. Check the code, or ask your teacher for the "
                            f"link again: a class is let go with its runs, or when its teacher deletes it")
        return row

    @contextlib.contextmanager
    def _teacher(self, code: str, key: str) -> Iterator[tuple[Session, ClassRow]]:
        """A transaction for a teacher's action: NotTeacher (nothing done) without the class's key."""
        with self.store._db() as db:
            row = self._row(db, code)
            if not key or not hmac.compare_digest(row.key_hash, key_hash(key)):
                raise NotTeacher(f"only class {code}'s teacher, with the board link's key, can do that")
            yield db, row


def _figures(text) -> dict:
    try:
        found = codec.loads(text, "figures", dict)
    except codec.BadRow:
        return {}
    return {k: float(v) for k, v in found.items()
            if k in FIGURES and isinstance(v, (int, float)) and not isinstance(v, bool)}
