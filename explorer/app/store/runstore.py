"""RunStore: the runs of every session, in a database (see the package docstring for what and why).

Every method opens its own short database session, so one store may be used from the pages' threads and from a
background writer at once. Failures of the database itself raise StoreError (the URL in it has its password
hidden); a stored row that was altered or corrupted raises StoreError too, saying which run and why.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import torch
from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ... import checkpoints
from ...config import ConfigError, GANConfig
from ...progress import Change, Progress, Snapshot, Status
from ..runs import Run
from . import codec, migrate, rows
from .engine import make_engine, reason
from .errors import StoreError
from .rows import token_hash
from .schema import ClassRow, RecordRow, RunRow, SessionRow, SnapshotRow, WeightsRow
from .settings import StoreSettings, database_url, private_sqlite_file, safe
from .values import Evicted, RunRecord, RunSummary, SessionRecord, now, restart_reason, summary, utc

ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)
KINDS = ("latest", "final")


class RunStore:
    def __init__(self, settings: StoreSettings):
        """Use `RunStore.open()`: it checks the database and migrates it first."""
        self.settings = settings
        self.url = settings.url
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, environ=None) -> RunStore:
        """The store at `url` (default: GAN_EXPLORER_DATABASE_URL, else the SQLite file in the data folder),
        reached and migrated to the newest schema. StoreError, saying how to fix it, when that cannot be done."""
        settings = StoreSettings.from_env(environ)
        if url is not None:
            settings = StoreSettings(database_url(url), settings.keep_days, settings.max_bytes)
        private_sqlite_file(settings.url, settings.home)
        store = cls(settings)
        try:
            with store.engine.connect():
                pass
            migrate.upgrade(store.engine, where=f" at {store.safe_url}")
        except SQLAlchemyError as e:
            store.close()
            raise StoreError(f"the run store at {store.safe_url} cannot be reached ({reason(e, store.url)}). Check "
                             f"that the database server is running and that GAN_EXPLORER_DATABASE_URL names it, "
                             f"with the right user and password") from None
        except StoreError:
            store.close()
            raise
        private_sqlite_file(settings.url, settings.home)  # SQLite's -wal and -shm files, now there
        return store

    @property
    def safe_url(self) -> str:
        return safe(self.url)

    def close(self) -> None:
        self.engine.dispose()

    # ---- sessions --------------------------------------------------------------------------------------------
    def save_session(self, token: str, run_counter: int, current_run_id: int | None = None) -> None:
        with self._db() as db:
            rows.touch_session(db, token_hash(token), run_counter, current_run_id)

    def session(self, token: str) -> SessionRecord | None:
        with self._db() as db:
            row = db.get(SessionRow, token_hash(token))
            return row and SessionRecord(row.run_counter, row.current_run_id, utc(row.created_at), utc(row.seen_at))

    # ---- writing a run ----------------------------------------------------------------------------------------
    def create_run(self, token: str, run: Run, status: str | None = None, reason: str = "", lesson: str | None = None,
                   fix_of: str = "", class_code: str | None = None) -> int:
        """Store `run` (its record, not its weights: see save_weights) for the session; returns its id. A trained
        run starts "queued"; an uploaded or demo run is "finished". `class_code`: the class whose board shows it."""
        status = status or (Status.QUEUED if run.source == "trained" else Status.FINISHED)
        lesson = lesson if lesson is not None else str(run.meta.get("lesson", ""))
        moment = now()
        with self._db() as db:
            key = token_hash(token)
            if db.get(SessionRow, key) is None:
                rows.touch_session(db, key, 0, None)
            if class_code:  # a class that ended (or went) takes no more runs: its board stays as it was
                found = db.get(ClassRow, class_code)
                class_code = class_code if found is not None and found.ended_at is None else None
            row = RunRow(session_hash=key, name=run.name[:200], source=run.source, config=run.cfg.to_json(),
                         meta=codec.dumps(run.meta), lesson=lesson[:100], fix_of=fix_of[:200], status=str(status),
                         reason=reason, step=run.steps or 0, size=0, created_at=moment, updated_at=moment,
                         class_code=class_code or None, figures=codec.figures_text(run.readings))
            db.add(row)
            db.flush()
            rows.write_record(db, row.id, run.history, run.readings, (), (), {}, run.snapshots)
            rows.count_size(db, row.id)
            return row.id

    def save_record(self, run_id: int, status: str, reason: str = "", step: int = 0,
                    history: dict[str, list[float]] | None = None, readings: Iterable | None = None,
                    changes: Iterable[Change] | None = None, nudges: Iterable[Change] | None = None,
                    snapshots: Iterable[Snapshot] | None = None, settings: dict | None = None) -> None:
        """The run's status and record now (cheap: chart rows, readings, changes; only new snapshots are written).
        Each part replaces the stored one; a part left None stays as stored (a status-only save: just `status`)."""
        with self._db() as db:
            row = rows.run_row(db, run_id)
            row.status, row.reason, row.step, row.updated_at = str(status), reason, int(step), now()
            if readings is not None:
                readings = list(readings)
                row.figures = codec.figures_text(readings)
            rows.write_record(db, run_id, history, readings, changes, nudges, settings, snapshots)
            rows.count_size(db, run_id)

    def save_progress(self, run_id: int, progress: Progress) -> None:
        """save_record from a trainer's published progress."""
        self.save_record(run_id, progress.status, progress.reason, progress.step, progress.history.columns(),
                         progress.readings, progress.changes, progress.nudges, progress.snapshots, progress.settings)

    def save_weights(self, run_id: int, kind: str, cfg: GANConfig, G: torch.nn.Module, D: torch.nn.Module | None,
                     meta: dict | None = None, step: int | None = None) -> int:
        """The run's weights as a safetensors checkpoint, "latest" (while it trains) or "final"; replaces the
        one of that kind. The run's config (with its live changes so far) and meta follow. Returns the bytes."""
        if kind not in KINDS:
            raise ValueError(f"weights kind {kind!r}: expected one of {KINDS}")
        meta = dict(meta or {})
        data = checkpoints.to_bytes(cfg, G, D, meta)
        if data[:1] == b"\x80":  # a header length of 128 mod 256 reads as pickle to checkpoints.load: pad it
            data = checkpoints.to_bytes(cfg, G, D, {**meta, "padding": " "})
        step = int(step if step is not None else meta.get("steps", 0) or 0)
        with self._db() as db:
            row = rows.run_row(db, run_id)
            db.execute(delete(WeightsRow).where(WeightsRow.run_id == run_id, WeightsRow.kind == kind))
            db.add(WeightsRow(run_id=run_id, kind=kind, step=step, data=data, sha256=hashlib.sha256(data).hexdigest(),
                              size=len(data), saved_at=now()))
            row.config, row.meta, row.updated_at = cfg.to_json(), codec.dumps(meta), now()
            db.flush()
            rows.count_size(db, run_id)
        return len(data)

    # ---- reading ----------------------------------------------------------------------------------------------
    def runs_of(self, token: str) -> list[RunSummary]:
        """The session's runs, oldest first (no records, no weights)."""
        with self._db() as db:
            found = db.scalars(select(RunRow).where(RunRow.session_hash == token_hash(token)).order_by(RunRow.id))
            return [summary(r) for r in found]

    def runs_with_weights(self, token: str) -> set[int]:
        """Which of the session's runs have weights saved (without reading them)."""
        with self._db() as db:
            return set(db.scalars(select(WeightsRow.run_id).join(RunRow, RunRow.id == WeightsRow.run_id)
                                  .where(RunRow.session_hash == token_hash(token)).distinct()))

    def load_record(self, run_id: int, token: str | None = None) -> RunRecord:
        """The run's record (RunGone when it is not in the store, or, with `token`, not that session's)."""
        with self._db() as db:
            row = rows.run_row(db, run_id, token)
            record = db.get(RecordRow, run_id)
            shots = db.scalars(select(SnapshotRow).where(SnapshotRow.run_id == run_id).order_by(SnapshotRow.step))
            try:
                cfg = GANConfig.from_json(row.config)
                meta = codec.loads(row.meta, "metadata", dict)
                snapshots = [codec.snapshot_from(s) for s in shots]
                if record is None:
                    return RunRecord(summary(row), cfg, meta, {}, [], [], [], {}, snapshots)
                return RunRecord(summary(row), cfg, meta, codec.history_from(record.history),
                                 codec.readings_from(record.readings),
                                 codec.changes_from(record.changes, "live changes"),
                                 codec.changes_from(record.nudges, "step-mode updates"),
                                 codec.loads(record.settings, "settings", dict), snapshots)
            except (codec.BadRow, ConfigError) as e:
                raise StoreError(f"run {run_id} ({row.name}) cannot be read back: {e}") from None

    def load_run(self, run_id: int, token: str | None = None) -> Run:
        """The whole run, its final weights (else its latest) read back as an upload is: the stored SHA-256 checked,
        then explorer.checkpoints.load (never unpickled). StoreError says why a run cannot be had."""
        record = self.load_record(run_id, token)
        with self._db() as db:
            weights = {w.kind: w for w in db.scalars(select(WeightsRow).where(WeightsRow.run_id == run_id))}
        chosen = weights.get("final") or weights.get("latest")
        what = f"run {run_id} ({record.summary.name})"
        if chosen is None:
            raise StoreError(f"{what} has no saved weights yet")
        data = bytes(chosen.data)
        if hashlib.sha256(data).hexdigest() != chosen.sha256:
            raise StoreError(f"{what}: its saved weights do not match their checksum (altered or corrupted), so "
                             f"they are refused")
        try:
            ckpt = checkpoints.load(data)
        except checkpoints.CheckpointError as e:
            raise StoreError(f"{what}: its saved weights are refused: {e}") from None
        return Run(record.summary.name, ckpt.cfg, ckpt.G, ckpt.D, record.meta, record.history, record.snapshots,
                   record.summary.source, record.readings)

    def size(self) -> int:
        """Bytes the runs hold in all (records, snapshots, weights), as the size budget counts them."""
        with self._db() as db:
            return int(db.scalar(select(func.coalesce(func.sum(RunRow.size), 0))))

    # ---- after a restart, and retention ---------------------------------------------------------------------
    def mark_interrupted(self, idle_seconds: float = 0.0) -> list[int]:
        """Every run still queued, running or paused (and not written for `idle_seconds`: replicas sharing the
        database keep theirs) becomes stopped, "Stopped by a server restart at step N."; returns their ids."""
        cutoff = now() - timedelta(seconds=idle_seconds)
        with self._db() as db:
            stale = db.scalars(select(RunRow).where(RunRow.status.in_([str(s) for s in ACTIVE]),
                                                    RunRow.updated_at <= cutoff).with_for_update()).all()
            for row in stale:
                row.status, row.reason = str(Status.STOPPED), restart_reason(row.step)
            return [r.id for r in stale]

    def evict(self, keep_days: float | None = None, max_bytes: int | None = None,
              at: datetime | None = None) -> list[Evicted]:
        """Let go the runs not written for `keep_days`, then the oldest others (never one still active) until the
        store fits `max_bytes`; defaults from the settings. Sessions with no runs left go after `keep_days` too."""
        keep_days = self.settings.keep_days if keep_days is None else keep_days
        max_bytes = self.settings.max_bytes if max_bytes is None else max_bytes
        cutoff = (at or now()) - timedelta(days=keep_days)
        gone: list[Evicted] = []
        with self._db() as db:
            old = db.execute(select(RunRow.id, RunRow.name, RunRow.size).where(RunRow.updated_at < cutoff)).all()
            gone += [Evicted(i, n, b, "age") for i, n, b in old]
            total = int(db.scalar(select(func.coalesce(func.sum(RunRow.size), 0)))) - sum(e.size for e in gone)
            if total > max_bytes:
                done = {e.id for e in gone}
                candidates = db.execute(select(RunRow.id, RunRow.name, RunRow.size)
                                        .where(RunRow.status.not_in([str(s) for s in ACTIVE]))
                                        .order_by(RunRow.updated_at, RunRow.id)).all()
                for i, n, b in candidates:
                    if total <= max_bytes:
                        break
                    if i not in done:
                        gone.append(Evicted(i, n, b, "size"))
                        total -= b
            rows.delete_runs(db, [e.id for e in gone])
            has_runs = select(RunRow.id).where(RunRow.session_hash == SessionRow.token_hash).exists()
            db.execute(delete(SessionRow).where(SessionRow.seen_at < cutoff, ~has_runs))
        return gone

    # ---- inside --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _db(self) -> Iterator[Session]:
        """One transaction: committed at the end, rolled back on any error. Database failures become StoreError."""
        try:
            with self._sessions.begin() as db:
                yield db
        except SQLAlchemyError as e:
            raise StoreError(f"the run store at {self.safe_url} failed ({reason(e, self.url)})") from None
