"""What the store gives back: plain, frozen values (no rows, no database session behind them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ...config import GANConfig
from ...progress import Change, Snapshot
from .schema import RunRow

RESTART_REASON = "Stopped by a server restart at step {step:,}."  # a run the server's stop or crash ended


def restart_reason(step: int) -> str:
    return RESTART_REASON.format(step=step)


@dataclass(frozen=True)
class SessionRecord:
    run_counter: int
    current_run_id: int | None
    created_at: datetime
    seen_at: datetime


@dataclass(frozen=True)
class RunSummary:
    """A run as a list shows it: no record, no weights."""
    id: int
    name: str
    source: str
    status: str
    reason: str
    step: int
    lesson: str
    fix_of: str
    size: int  # bytes stored
    created_at: datetime
    updated_at: datetime

    @property
    def interrupted(self) -> bool:
        """Ended by a server's stop or crash, not by itself or its student: it can train on from its last save."""
        return self.status == "stopped" and self.reason.startswith(RESTART_REASON.split("{")[0])


@dataclass(frozen=True)
class RunRecord:
    """A run's record without its weights: what its charts, film strip and settings need."""
    summary: RunSummary
    cfg: GANConfig
    meta: dict
    history: dict[str, list[float]]
    readings: list
    changes: list[Change]
    nudges: list[Change]
    settings: dict
    snapshots: list[Snapshot]


@dataclass(frozen=True)
class Evicted:
    id: int
    name: str
    size: int
    why: str  # "age" or "size"


def summary(row: RunRow) -> RunSummary:
    return RunSummary(row.id, row.name, row.source, row.status, row.reason, row.step, row.lesson, row.fix_of, row.size,
                      utc(row.created_at), utc(row.updated_at))


def now() -> datetime:
    return datetime.now(UTC)


def utc(moment: datetime) -> datetime:
    """SQLite gives times back without their zone: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
