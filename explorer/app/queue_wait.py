"""How long a waiting job will wait: its place in line, played forward with the measured length of the runs ahead.

A backend keeps a small record of the runs it trained (`PaceRecord`): for each setup, the training seconds one step
and one image took, and how long a run held its slot beyond its training (building the trainer, the quality meter's
readings). `wait_seconds` then frees the slots in order: each running job's slot when its time is left, and each job
ahead in line takes the first free slot for as long as its budget should take.

Honest rather than hopeful: a "seconds" budget is its amount (plus the measured hold, once a run of that setup
has ended), but a "steps" or "epochs" budget is only known once a run of the same setup has trained here, and then
the estimate says None instead of inventing a rate. Runs of other setups do not stand in: a wider net or a bigger
batch can take ten times as long a step.
"""

from __future__ import annotations

import heapq
import statistics
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..data import load as load_data

if TYPE_CHECKING:
    from ..progress import Progress
    from .jobs import Job, JobSpec

RUNS_KEPT = 20  # runs per setup: the newest speak for the server as it is loaded now
SETUPS_KEPT = 32  # setups the record remembers, the least recently trained forgotten first


def setup_key(spec: JobSpec) -> tuple:
    """What sets the cost of one step: the nets, the batch, D's steps per G step, the loss and the meter."""
    c = spec.cfg
    return (c.latent_dim, tuple(c.g_layers), tuple(c.d_layers), c.batch_size, c.d_steps, c.loss, c.conditional,
            c.g_batchnorm, c.d_batchnorm, spec.measure)


@dataclass(frozen=True)
class Measured:
    """One run's figures: steps, images and training seconds, and wall seconds it held its slot (pauses left out)."""
    steps: int
    images: int
    training: float
    held: float

    @classmethod
    def of(cls, progress: Progress, held: float) -> Measured:
        return cls(progress.step, progress.images_seen, progress.seconds, held)


@dataclass(frozen=True)
class Rates:
    """A setup's measured pace: training seconds per step and per image, and wall seconds a run holds its slot
    beyond its training (0 until a run of the setup has ended)."""
    per_step: float
    per_image: float
    hold: float = 0.0


class PaceRecord:
    """The measured runs of one backend, a few per setup. Safe from any thread."""

    def __init__(self):
        self._runs: OrderedDict[tuple, deque[Measured]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, spec: JobSpec, measured: Measured) -> None:
        """A run that ended after training at least a step."""
        if measured.steps <= 0 or measured.training <= 0:
            return
        key = setup_key(spec)
        with self._lock:
            self._runs.setdefault(key, deque(maxlen=RUNS_KEPT)).append(measured)
            self._runs.move_to_end(key)
            while len(self._runs) > SETUPS_KEPT:
                self._runs.popitem(last=False)

    def rates(self, spec: JobSpec, live: list[Measured] = ()) -> Rates | None:
        """`spec`'s setup's pace from its ended runs and `live` (runs of the same setup training now); None when
        no step of it has been measured."""
        with self._lock:
            ended = list(self._runs.get(setup_key(spec), ()))
        runs = [m for m in [*ended, *live] if m.steps > 0 and m.training > 0]
        if not runs:
            return None
        steps, images, training = (sum(m.steps for m in runs), sum(m.images for m in runs),
                                   sum(m.training for m in runs))
        hold = statistics.median(max(0.0, m.held - m.training) for m in ended) if ended else 0.0
        return Rates(training / steps, training / max(1, images), hold)


def training_seconds(spec: JobSpec, rates: Rates | None, done: Progress | None = None) -> float | None:
    """Training seconds `spec`'s budget still takes after `done` (from the start without it); None: not known."""
    kind, amount = spec.budget.kind, spec.budget.amount
    if kind == "seconds":
        return max(0.0, amount - (done.seconds if done else 0.0))
    if rates is None:
        return None
    if kind == "steps":
        return max(0.0, amount - (done.step if done else 0)) * rates.per_step
    try:  # epochs: each one is every image of the chosen digits
        per_epoch = load_data(spec.cfg.data).count(spec.cfg.digits)
    except Exception:  # data that cannot be read now: the job says so itself once it starts
        return None
    return max(0.0, amount - (done.epoch_progress if done else 0.0)) * per_epoch * rates.per_image


def wait_seconds(slots_free_in: list[float], ahead: list[float | None]) -> float | None:
    """Seconds until the next job starts: the running jobs' slots free up after `slots_free_in` seconds, and the
    jobs `ahead` of it, in order, each take the first free slot for its length. None when a length is unknown, or
    no slot is held (then nothing this backend runs decides when it starts)."""
    if not slots_free_in or any(length is None for length in ahead):
        return None
    free = list(slots_free_in)
    heapq.heapify(free)
    for length in ahead:
        heapq.heappush(free, heapq.heappop(free) + length)
    return free[0]


def estimate(holding: list[Job], ahead: list[Job], record: PaceRecord, most: float) -> float | None:
    """Seconds until the job after `ahead` starts, beside the jobs `holding` a slot; each run takes at most
    `most` wall seconds (the server's run-time limit). None when it cannot be told (see wait_seconds)."""
    progress = {id(job): job.progress() for job in holding}
    live: dict[tuple, list[Measured]] = {}
    for job in holding:
        live.setdefault(setup_key(job.spec), []).append(Measured.of(progress[id(job)], job.running_seconds()))
    rates: dict[tuple, Rates | None] = {}

    def pace(spec: JobSpec) -> Rates | None:
        key = setup_key(spec)
        if key not in rates:
            rates[key] = record.rates(spec, live.get(key, []))
        return rates[key]

    free_in = []
    for job in holding:
        now = progress[id(job)]
        own = Rates(now.seconds / now.step, now.seconds / max(1, now.images_seen), 0.0) if now.step else None
        left = training_seconds(job.spec, own or pace(job.spec), now)
        if left is None:
            return None
        spent_beyond = max(0.0, job.running_seconds() - now.seconds)  # building, meter readings so far
        hold_left = max(0.0, _hold(pace(job.spec)) - spent_beyond)
        free_in.append(min(left + hold_left, max(0.0, most - job.wall_seconds())))
    lengths = []
    for job in ahead:
        training = training_seconds(job.spec, pace(job.spec))
        lengths.append(None if training is None else min(most, training + _hold(pace(job.spec))))
    return wait_seconds(free_in, lengths)


def _hold(rates: Rates | None) -> float:
    return rates.hold if rates is not None else 0.0


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def about(seconds: float) -> str:
    """A wait in round words: "a few seconds", "40 s", "2 min"."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 55:
        return f"{round(seconds / 5) * 5:.0f} s"
    return f"{max(1, round(seconds / 60)):.0f} min"


def in_line_text(position: int, wait: float | None) -> str:
    """What a waiting student reads: "Waiting: 3rd in line, starts in about 2 min (from the runs ahead)"."""
    if wait is None:
        return f"Waiting: {ordinal(position)} in line"
    return f"Waiting: {ordinal(position)} in line, starts in about {about(wait)} (from the runs ahead)"
