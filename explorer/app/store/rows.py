"""The writes and lookups RunStore makes inside one database session: a session's row, a run's record and
snapshots, its size for the budget, and letting runs go."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ...progress import Snapshot
from . import codec
from .errors import RunGone
from .schema import RecordRow, RunRow, SessionRow, SnapshotRow, WeightsRow
from .values import now

MAX_SNAPSHOTS = 100  # the newest kept per run (the trainer keeps as many)


def token_hash(token: str) -> str:
    """What the store keeps of a session's token. Tokens are 128 random bits: a plain SHA-256 cannot be reversed."""
    return hashlib.sha256(token.encode()).hexdigest()


def touch_session(db: Session, key: str, run_counter: int, current_run_id: int | None) -> None:
    moment = now()
    row = db.get(SessionRow, key, with_for_update=True)
    if row is None:
        db.add(SessionRow(token_hash=key, run_counter=run_counter, current_run_id=current_run_id, created_at=moment,
                          seen_at=moment))
    else:
        row.run_counter, row.current_run_id, row.seen_at = run_counter, current_run_id, moment
    db.flush()


def run_row(db: Session, run_id: int, token: str | None = None) -> RunRow:
    row = db.get(RunRow, run_id)
    if row is None or (token is not None and row.session_hash != token_hash(token)):
        raise RunGone(f"run {run_id} is no longer in the store: runs are let go after GAN_EXPLORER_KEEP_DAYS "
                      f"days, or when the store is full (GAN_EXPLORER_MAX_STORE)")
    return row


def write_record(db: Session, run_id: int, history, readings, changes, nudges, settings,
                  snapshots: Iterable[Snapshot] | None) -> None:
    """Write the parts given (None: keep the stored one)."""
    parts = dict(history=(history, codec.history_text), readings=(readings, codec.readings_text),
                 changes=(changes, codec.changes_text), nudges=(nudges, codec.changes_text),
                 settings=(settings, codec.dumps))
    record = db.get(RecordRow, run_id)
    if record is None:
        record = RecordRow(run_id=run_id, history="{}", readings="[]", changes="[]", nudges="[]", settings="{}")
        db.add(record)
    for name, (value, text) in parts.items():
        if value is not None:
            setattr(record, name, text(value))
    record.size = sum(len(getattr(record, name)) for name in parts)
    if snapshots is None:
        db.flush()
        return
    newest = {int(s.step): s for s in snapshots}  # one per step: a re-taken snapshot replaces its step's
    keep = sorted(newest)[-MAX_SNAPSHOTS:]
    # (step, has push) of those stored. Written: new steps, the newest (a re-taken snapshot replaces its step's),
    # and those whose push map came or went (only the newest two carry one).
    stored = dict(db.execute(select(SnapshotRow.step, SnapshotRow.push.is_not(None))
                             .where(SnapshotRow.run_id == run_id)).all())
    rewrite = [s for s in keep if s not in stored or s == keep[-1] or stored[s] != (newest[s].push is not None)]
    gone = (set(stored) - set(keep)) | (set(rewrite) & set(stored))
    if gone:
        db.execute(delete(SnapshotRow).where(SnapshotRow.run_id == run_id, SnapshotRow.step.in_(gone)))
    db.add_all(SnapshotRow(run_id=run_id, **codec.snapshot_fields(newest[s])) for s in rewrite)
    db.flush()


def count_size(db: Session, run_id: int) -> None:
    parts = [select(func.coalesce(func.sum(t.size), 0)).where(t.run_id == run_id).scalar_subquery()
             for t in (RecordRow, SnapshotRow, WeightsRow)]
    own = func.length(RunRow.config) + func.length(RunRow.meta)
    db.execute(update(RunRow).where(RunRow.id == run_id).values(size=parts[0] + parts[1] + parts[2] + own))


def delete_runs(db: Session, ids: list[int]) -> None:
    if not ids:
        return
    for table in (SnapshotRow, WeightsRow, RecordRow):
        db.execute(delete(table).where(table.run_id.in_(ids)))
    db.execute(update(SessionRow).where(SessionRow.current_run_id.in_(ids)).values(current_run_id=None))
    db.execute(delete(RunRow).where(RunRow.id.in_(ids)))
