"""A training run's progress as the rest of the app reads it: its status, its thinned history of
per-step metrics, its sample snapshots and the live changes made to it.

The trainer publishes a new `Progress` after every step: an immutable value that any thread (a page's
poll, a Ray call) reads without waiting for the step in flight.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import torch


class Status(StrEnum):
    """Where a run is. A str, so it prints, compares and travels as its plain name."""
    QUEUED = "queued"  # waiting for a training slot (or, for a bare trainer, not started yet)
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # the budget is spent
    STOPPED = "stopped"  # by request, by the server, or by the run-time limit
    DIVERGED = "diverged"  # a metric became NaN or infinite; rolled back to the last good weights
    COLLAPSED = "collapsed"  # every sample alike; rolled back to the last varied weights
    FAILED = "failed"  # an error in the engine or in the backend

    @property
    def terminal(self) -> bool:
        """Over for good: nothing will change it any more."""
        return self in (Status.FINISHED, Status.STOPPED, Status.DIVERGED, Status.COLLAPSED, Status.FAILED)

    @property
    def failed(self) -> bool:
        """Ended by something going wrong, not by the budget or a request."""
        return self in (Status.DIVERGED, Status.COLLAPSED, Status.FAILED)


# ---- the history of per-step metrics ---------------------------------------------------------------
COUNTERS = ("step", "epoch", "images", "seconds")  # where a row was taken: a merged row keeps the last
METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "g_grad", "d_grad")  # averaged over a merged row's steps
RATES = ("g_lr", "d_lr")  # averaged too (they change only at epochs and live changes)
COLUMNS = (*COUNTERS, *METRICS, *RATES)


class Row(NamedTuple):
    """One history row: a step's metrics, or the weighted mean of several steps'."""
    step: float
    epoch: float
    images: float
    seconds: float
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    g_grad: float
    d_grad: float
    g_lr: float
    d_lr: float


assert Row._fields == COLUMNS  # one list of names for the table and its rows


def merge(rows: list[tuple[int, Row]]) -> tuple[int, Row]:
    """(steps, row) pairs -> one pair: counters from the last row, the rest averaged by steps."""
    n = sum(w for w, _ in rows)
    last = rows[-1][1]
    merged = {name: getattr(last, name) if name in COUNTERS else sum(w * getattr(r, name) for w, r in rows) / n
              for name in COLUMNS}
    return n, Row(**merged)


class History:
    """Per-step metrics thinned to at most `max_points` rows: each row averages `stride` steps,
    and when the table is full, neighbouring rows merge (weighted by their steps) and the stride doubles."""

    def __init__(self, max_points: int = 2000):
        self.max_points = max_points
        self.stride = 1
        self.rows: list[tuple[int, Row]] = []  # (steps averaged, values)
        self._pending: list[tuple[int, Row]] = []  # steps not yet a whole row

    def add(self, row: Row) -> None:
        self._pending.append((1, row))
        if len(self._pending) >= self.stride:
            self.rows.append(merge(self._pending))
            self._pending = []
        if len(self.rows) > self.max_points:
            pairs = zip(self.rows[0::2], self.rows[1::2])
            self.rows = [merge(list(p)) for p in pairs] + (self.rows[-1:] if len(self.rows) % 2 else [])
            self.stride *= 2

    def table(self) -> HistoryTable:
        """An immutable copy, the steps not yet a whole row included as one."""
        rows = [r for _, r in self.rows] + ([merge(self._pending)[1]] if self._pending else [])
        return HistoryTable(tuple(rows))

    def columns(self) -> dict[str, list[float]]:
        return self.table().columns()


@dataclass(frozen=True)
class HistoryTable:
    rows: tuple[Row, ...] = ()

    @functools.cached_property  # a page asks for the same table's columns several times a poll
    def _columns(self) -> dict[str, list[float]]:
        return {name: [getattr(r, name) for r in self.rows] for name in COLUMNS}

    def columns(self) -> dict[str, list[float]]:
        """Column name -> values, one per row (what the charts and the CSV take). Do not change them."""
        return self._columns

    def last(self) -> dict[str, float]:
        return self.rows[-1]._asdict() if self.rows else {}

    def __len__(self) -> int:
        return len(self.rows)


# ---- what a run shows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    step: int
    images: torch.Tensor  # (n, 28, 28) uint8 on the CPU, from the fixed latent batch
    push: torch.Tensor | None = None  # (n, 28, 28) float16: what D tells G per pixel (> 0: more ink); newest only
    verdicts: torch.Tensor | None = None  # (n,) D's verdict on each sample, with `push`
    probabilities: bool = True  # whether the verdicts are P(real) (else critic scores)


@dataclass(frozen=True)
class Change:
    """A live change, as the charts mark it: the step it began at and what changed."""
    step: int
    what: str  # "loss → Hinge", "G lr → 0.001", "k → 2"
    settings: dict = field(default_factory=dict, compare=False)  # the new values, for a replay


@dataclass(frozen=True)
class Progress:
    """A run's state as published after a step: safe to read from any thread, never changed."""
    status: Status = Status.QUEUED
    reason: str = ""  # why it ended, in words, when it did not simply finish
    step: int = 0
    epoch: int = 0
    epoch_progress: float = 0.0
    images_seen: int = 0
    seconds: float = 0.0  # training time
    history: HistoryTable = HistoryTable()
    snapshots: tuple[Snapshot, ...] = ()
    settings: dict = field(default_factory=dict)  # the live-changeable settings now in use
    readings: tuple = ()  # the quality meter's (explorer.quality.Reading), when it runs
    changes: tuple[Change, ...] = ()
    meter_note: str = ""  # why the quality meter is off, if it is
    nudges: tuple[Change, ...] = ()  # step mode's lone updates ("D step", "G step"), marked on the charts
    before: Snapshot | None = None  # the snapshot just before the last lone update, for step mode's before/after
    pace: float | None = None  # slow motion: steps per second, or None for full speed

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.seconds if self.seconds > 0 else 0.0
