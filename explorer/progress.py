"""A training run's progress as the rest of the app reads it: its status, its thinned history of
per-step metrics, its sample snapshots and the live changes made to it.

The trainer publishes a new `Progress` after every step: an immutable value that any thread (a page's
poll, a Ray call) reads without waiting for the step in flight.
"""

from __future__ import annotations

import collections
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
class LoneUpdate:
    """Step mode's last lone update, as the page shows it. Both snapshots sample G itself (not the weight average
    a run's grid may show: one step barely moves that) on the fixed latent batch, and D judges them in evaluation
    mode (no dropout), before and after the update: the same fakes, read the same way."""
    what: str  # "D step" or "G step"
    before: Snapshot
    after: Snapshot
    real_before: float  # D's mean verdict on a fixed batch of real digits (evaluation mode), before and after
    real_after: float
    loss_before: float  # the updated network's loss on the batch it learned from (evaluation mode), before and after
    loss_after: float


@dataclass(frozen=True)
class WallRate:
    """How fast a run went over its last few seconds of wall time, slow motion's waits included: per second of
    wall time (a step's compute time alone would promise slow motion a speed it never has)."""
    steps: float
    images: float
    epochs: float
    training_seconds: float  # training time gained per second of wall time

    def seconds_left(self, kind: str, amount: float, now: Progress) -> float | None:
        """Wall seconds until a budget of `amount` steps, epochs or seconds of training time is spent, at this rate."""
        done, rate = {"steps": (now.step, self.steps), "epochs": (now.epoch_progress, self.epochs),
                      "seconds": (now.seconds, self.training_seconds)}[kind]
        return max(0.0, amount - done) / rate if rate > 0 else None


class RecentRate:
    """The trainer's clock readings of its last steps, for `WallRate`: kept for `window` seconds of wall time."""

    def __init__(self, window: float = 10.0, most: int = 256):
        self.window = window
        self.points: collections.deque = collections.deque(maxlen=most)  # (wall, step, images, epochs, seconds)

    def restart(self) -> None:
        """Count afresh from the next step on (after a pause, whose wait is no part of the rate). The rate runs from
        one step's end to another's: from a start instead, the first step's pace wait would be left out."""
        self.points.clear()

    def add(self, wall: float, step: float, images: float, epochs: float, seconds: float) -> None:
        """A clock reading `wall` (seconds) where the run had done this many steps, images, epochs, training seconds."""
        self.points.append((wall, step, images, epochs, seconds))
        while len(self.points) > 2 and wall - self.points[1][0] >= self.window:
            self.points.popleft()

    def rate(self) -> WallRate | None:
        if len(self.points) < 2 or self.points[-1][0] <= self.points[0][0]:
            return None
        first, last = self.points[0], self.points[-1]
        wall = last[0] - first[0]
        return WallRate(*((b - a) / wall for a, b in zip(first[1:], last[1:])))


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
    lone: LoneUpdate | None = None  # step mode's last lone update: G's samples and D's verdicts before and after
    pace: float | None = None  # slow motion: steps per second, or None for full speed
    wall_rate: WallRate | None = None  # over the last few seconds of wall time, while it trains

    @property
    def latest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def images_per_second(self) -> float:
        return self.images_seen / self.seconds if self.seconds > 0 else 0.0
