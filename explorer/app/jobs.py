"""Training jobs: one interface, whatever runs them.

A `Job` is one training run of one browser session: its spec (config, budget, name), its control (pause,
resume, stop, live changes) and what the pages read (`view()`: a `JobView` over the trainer's published
`Progress`, plus the queue position and timing the backend knows). A `Backend` admits jobs, queues the
rest in order, and watches them: a job whose session has been gone for the grace period, or that has run
past the server's limit, is stopped. The thread backend (explorer.app.threads) runs jobs in worker threads
of this process; pages and benchmarks never ask which backend runs a job. The queue and watchdog they share
are explorer.app.backend.Backend.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import Budget, ConfigError, GANConfig
from ..data import load as load_data
from ..memory import estimate, shrink_hint, size_text
from ..progress import Progress, Status
from ..resume import Weights
from ..step_mode import check_pace, check_update
from ..trainer import TrainedModel

if TYPE_CHECKING:
    from .backend import Backend


class Refused(ConfigError):
    """The server will not take a job: it could never fit, or too many wait already. A ConfigError whose `field`
    names the setting to shrink ("server" when none would help), so the Train page shows it as it shows a bad
    setting, and nothing is queued."""


@dataclass(frozen=True)
class JobSpec:
    """What to train, for whom: everything a backend needs to build the run, wherever it runs."""
    cfg: GANConfig
    budget: Budget
    name: str = "run"
    session_id: str = ""
    lesson: str = ""  # the failure-mode lesson this run shows (explorer.lessons), if any
    fix_of: str = ""  # with a lesson: the name of the run whose fix this run tries
    class_code: str = ""  # the class whose board shows this run (explorer.app.classes), if any
    measure: bool = True  # run the live quality meter
    start_from: Weights | None = None  # a lost run's last weights and record, to train on from
    # The run's own key, whatever becomes of it (job, finished run, row of the run store: explorer.app.saver).
    key: str = field(default_factory=lambda: uuid.uuid4().hex, compare=False)

    def check(self) -> None:
        """Raise ConfigError or DataError now, at Start, for what would fail once the job runs."""
        data = load_data(self.cfg.data)
        self.cfg.validate(n_images=data.count(self.cfg.digits))

    @property
    def memory(self) -> int:
        """The run's peak bytes, estimated from its config (explorer.memory)."""
        return estimate(self.cfg, self.measure).total

    def too_big(self, most: int, where: str) -> Refused:
        """The refusal for a run that needs more than `most` bytes (`where`: "this server lets training use")."""
        est = estimate(self.cfg, self.measure)
        field, hint = shrink_hint(self.cfg, est)
        return Refused(field, f"this setup needs about {size_text(est.total)} of memory while it trains, more than "
                              f"the {size_text(max(0, most))} {where}; {hint}")


@dataclass(frozen=True)
class JobView:
    """A consistent picture of a job for the page: the trainer's published progress, with the job's status
    (which knows about the queue and failures), the budget fraction, queue position and time left."""
    progress: Progress
    status: Status
    reason: str
    fraction: float  # of the budget
    queue_position: int  # 1-based while queued, else 0
    eta: float | None  # seconds of wall time left, when known
    done: bool = False
    wait: float | None = None  # while queued: seconds until it starts, when the runs ahead tell (Backend.wait_estimate)

    @property
    def active(self) -> bool:
        """Still queued, running or paused: the page should keep watching it."""
        return not self.done

    @property
    def status_text(self) -> str:
        return f"queued (position {self.queue_position})" if self.status == Status.QUEUED else str(self.status)

    @property
    def history(self) -> dict[str, list[float]]:
        return self.progress.history.columns()

    def __getattr__(self, name: str):
        """The progress read through: step, epoch, images_seen, seconds (training time), images_per_second,
        snapshots, settings, readings, changes, meter_note, nudges, lone, pace, wall_rate."""
        if name.startswith("__") or name == "progress":  # copy and pickle probe for these before the fields exist
            raise AttributeError(name)
        return getattr(self.progress, name)


class Job(ABC):
    """One training run; a backend's subclass says how it trains. Control is safe from any thread."""

    def __init__(self, spec: JobSpec, clock: Callable[[], float] = time.monotonic):
        self.spec = spec
        self.clock = clock
        self.created = clock()
        self.started: float | None = None
        self.ended: float | None = None
        self.note = ""  # why the job (not the user) stopped it, or why it failed
        self.failed = False
        self.lost = False  # its machine was lost (explorer.app.ray_backend): see resume_point()
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._backend: Backend | None = None
        self._done = threading.Event()
        self._model: TrainedModel | None = None  # what the backend's job trained, once it has it

    # the spec, read through
    name = property(lambda self: self.spec.name)
    cfg = property(lambda self: self.spec.cfg)
    budget = property(lambda self: self.spec.budget)
    session_id = property(lambda self: self.spec.session_id)
    lesson = property(lambda self: self.spec.lesson)
    fix_of = property(lambda self: self.spec.fix_of)

    # ---- what a backend's job does ----------------------------------------------------------
    @abstractmethod
    def _launch(self) -> None:
        """Start training (the backend admitted the job). Must end by calling `_finish()`."""

    @abstractmethod
    def progress(self) -> Progress:
        """The newest published progress (a fresh Progress() before the trainer exists)."""

    def result(self) -> TrainedModel | None:
        """The trained model once the job is done (None if it never trained a step or failed to build)."""
        return self._model if self.done else None

    def let_go(self) -> None:
        """Its session has made the trained model a run (explorer.app.runs.Run.from_job): the job holds it no more,
        so the run alone decides how long G and D stay in memory (explorer.app.kept_runs)."""
        if self.done:
            self._model = None

    @abstractmethod
    def _control(self, action: str, **changes) -> None:
        """Pass "pause", "resume", "stop", "update" (with the changes), "nudge" (update=) or "slow_motion"
        (steps_per_second=) to the trainer, as the trainer's method of that name."""

    @property
    def last_weights(self):
        """The newest copy of the run's weights and record taken while it trains (explorer.resume.Weights; every
        half minute or so, for the run store: explorer.app.saver), or None before the first."""
        return None

    def resume_point(self):
        """For a job whose machine was lost: its last weights and record (explorer.resume.Weights) to train on
        from (explorer.app.continuation); None otherwise."""
        return None

    # ---- lifecycle (called by the backend) ---------------------------------------------------
    def _start(self, backend: Backend) -> None:
        self._backend = backend
        self.started = self.clock()
        self._launch()

    def _finish(self) -> None:
        self.ended = self.clock()
        if self._backend is not None:  # free the slot first: whoever waits on done may count slots
            self._backend._release(self)
        self._done.set()

    def _fail(self, note: str) -> None:
        self.failed, self.note = True, note

    # ---- control (any thread) -----------------------------------------------------------------
    def pause(self) -> None:
        if self.started is not None and not self.done and self._paused_since is None:
            self._paused_since = self.clock()
            self._control("pause")

    def resume(self) -> None:
        if self._paused_since is not None:
            self._paused_total += self.clock() - self._paused_since
            self._paused_since = None
        self._control("resume")

    def stop(self, note: str = "") -> None:
        """Stop a running job, or take a queued one out of the queue."""
        if self.done:
            return
        if note and not self.note:
            self.note = note
        if self._backend is not None and self._backend._dequeue(self):  # it was still waiting
            self.ended = self.clock()
            self._done.set()
            return
        self._control("stop")

    def update(self, **changes) -> None:
        """Live changes of learning rates, loss or d_steps (raises ConfigError)."""
        self._control("update", **changes)

    def nudge(self, update: str, wait: float = 0.0) -> bool:
        """Step mode: one update of D ("d") or of G ("g"), while the job is paused (False when it is not: a
        running job's next step does both anyway). With `wait`, up to that many seconds until the trainer has
        published it, so a page drawn next shows the update."""
        check_update(update)
        if not self.paused or self.started is None:
            return False
        done_before = len(self.progress().nudges)
        self._control("nudge", update=update)
        deadline = time.monotonic() + wait
        while len(self.progress().nudges) == done_before and time.monotonic() < deadline and not self.done:
            time.sleep(0.02)
        return True

    def slow_motion(self, steps_per_second: float | None) -> None:
        """Train at this many steps per second, a snapshot every step; None: full speed."""
        check_pace(steps_per_second)
        if not self.done:
            self._control("slow_motion", steps_per_second=steps_per_second)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def wait_paused(self, timeout: float = 3.0) -> bool:
        """After pause(): wait until the trainer has paused and published its snapshot and reading of that step
        (a step and a reading take well under a second), so a page drawn now shows one moment throughout."""
        deadline = time.monotonic() + timeout
        while not self.done and self.progress().status != Status.PAUSED:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    # ---- reading ------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def queued(self) -> bool:
        return self.started is None and not self.done

    @property
    def paused(self) -> bool:
        return self._paused_since is not None and not self.done

    def wall_seconds(self) -> float:
        """Wall time since the job started, pauses included (what the run-time limit counts)."""
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else self.clock()) - self.started

    def running_seconds(self) -> float:
        paused = self._paused_total + (self.clock() - self._paused_since if self._paused_since else 0.0)
        return max(0.0, self.wall_seconds() - paused)

    def view(self) -> JobView:
        progress = self.progress()
        done = self.done
        status, reason = progress.status, progress.reason
        if self.queued:
            status, reason = Status.QUEUED, ""
        elif self.failed:
            status, reason = Status.FAILED, self.note
        elif done and self.started is None:
            status, reason = Status.STOPPED, self.note or "Cancelled before it started."
        elif not done and self.paused:
            status = Status.PAUSED
        elif not done and (status in (Status.PAUSED, Status.QUEUED) or status.terminal):
            status = Status.RUNNING  # resuming, building, or wrapping up: the worker is still at it
        elif status == Status.STOPPED and self.note:
            reason = f"{self.note} (at step {progress.step:,})"
        fraction = self.budget.fraction(progress) if self.started is not None else 0.0
        running = self.running_seconds()
        eta = running * (1 - fraction) / fraction if 0 < fraction < 1 and not done else None
        if self.budget.kind == "seconds" and not done:
            eta = max(0.0, self.budget.amount - progress.seconds)
        if status == Status.PAUSED:
            eta = None  # nothing is counting down while it waits
        position = self._backend.position(self) if self._backend else 0
        wait = self._backend.wait_estimate(self) if position and self._backend else None
        return JobView(progress, status, reason, fraction, position, eta, done, wait)
