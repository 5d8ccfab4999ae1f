"""Training jobs and the process-wide registry that runs them, without Streamlit.

A `Job` owns one `Trainer` and the worker thread that runs it; it never touches Streamlit. The
`JobRegistry` (one per server process) starts at most `max_jobs` jobs at once and queues the rest
in order. A watchdog thread stops a job whose session has been gone for `session_grace` seconds,
or that has run longer than `max_run_seconds`. Torch's intra-op thread pool is process-wide, so it
is sized once, to `(cores - 1) // max_jobs` (at least 1), so that concurrent jobs and the web server
do not oversubscribe the CPU.

Settings come from the environment (see `Limits.from_env`):
    GAN_EXPLORER_MAX_JOBS           concurrent training jobs (default: the number of usable cores)
    GAN_EXPLORER_MAX_RUN_SECONDS    wall-clock limit for one job, pauses included (default 1800)
    GAN_EXPLORER_SESSION_GRACE      seconds a job outlives its disconnected session (default 30)
    GAN_EXPLORER_TORCH_THREADS      torch threads (default: (cores - 1) // max jobs, at least 1)
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..training import Budget, Trainer

log = logging.getLogger(__name__)
GIL_SWITCH_SECONDS = 0.0005
TERMINAL = ("finished", "stopped", "diverged", "collapsed", "failed")


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    max_jobs: int
    max_run_seconds: float = 1800.0
    session_grace: float = 30.0
    torch_threads: int = 1

    @classmethod
    def from_env(cls, environ=None, cores: int | None = None) -> Limits:
        env = os.environ if environ is None else environ
        cores = cores or usable_cores()
        max_jobs = _env_number(env, "GAN_EXPLORER_MAX_JOBS", cores, int, 1)
        threads = default_threads(cores, max_jobs)
        return cls(max_jobs=max_jobs,
                   max_run_seconds=_env_number(env, "GAN_EXPLORER_MAX_RUN_SECONDS", 1800.0, float, 1.0),
                   session_grace=_env_number(env, "GAN_EXPLORER_SESSION_GRACE", 30.0, float, 0.0),
                   torch_threads=_env_number(env, "GAN_EXPLORER_TORCH_THREADS", threads, int, 1))


def tune_process(limits: Limits) -> None:
    """Process-wide settings for training beside a web server: torch's pool size, which every job (and page)
    shares, and the GIL's switch interval.

    Why the switch interval: each torch op lets go of the GIL and must then win it back. While a page's script
    runs, a training thread used to wait a whole interval (5 ms by default) after every op of its step."""
    torch.set_num_threads(limits.torch_threads)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)


def default_threads(cores: int, max_jobs: int) -> int:
    """Torch threads per job: the cores less one for the web server, shared out among the jobs, at least 1.

    These MLPs are small: one busy thread per job beats several that wait on each other."""
    return max(1, (cores - 1) // max_jobs)


def _env_number(env, name: str, default, kind, minimum):
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"{name}={text!r} must be at least {minimum}")
    return value


@dataclass
class JobView:
    """A consistent picture of a job for the page: status, progress, history and snapshots."""
    status: str  # queued, running, paused, finished, stopped, diverged, collapsed, failed
    reason: str
    step: int
    epoch: int
    images_seen: int
    seconds: float  # training time
    fraction: float  # of the budget
    queue_position: int  # 1-based while queued, else 0
    eta: float | None  # seconds of wall time left, when known
    images_per_second: float
    history: dict = field(default_factory=dict)
    snapshots: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    readings: list = field(default_factory=list)  # the quality meter's (explorer.quality.Reading)
    changes: list = field(default_factory=list)  # live changes applied: (step, what)
    done: bool = False

    @property
    def active(self) -> bool:
        """Still queued, running or paused: the page should keep watching it."""
        return not self.done

    @property
    def status_text(self) -> str:
        return f"queued (position {self.queue_position})" if self.status == "queued" else self.status


class Job:
    """One training run: a trainer, its budget, its session, and the worker thread that runs it."""

    def __init__(self, trainer: Trainer, budget: Budget, session_id: str = "", name: str = "run",
                 clock: Callable[[], float] = time.monotonic, lesson: str = "", fix_of: str = ""):
        self.trainer, self.budget, self.session_id, self.name = trainer, budget, session_id, name
        self.lesson = lesson  # the failure-mode lesson this run shows (explorer.lessons), if any
        self.fix_of = fix_of  # with a lesson: the name of the run whose fix this run tries
        self.clock = clock
        self.created = clock()
        self.started: float | None = None
        self.ended: float | None = None
        self.note = ""  # why the job (not the user) stopped it, or why it failed
        self.failed = False
        self._paused_since: float | None = None
        self._paused_total = 0.0
        self._registry: JobRegistry | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # ---- lifecycle (called by the registry) --------------------------------------------
    def _start(self, registry: JobRegistry) -> None:
        self._registry = registry
        self.started = self.clock()
        self._thread = threading.Thread(target=self._work, name=f"gan-job-{self.name}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        if self._registry is not None:  # OpenMP keeps its thread count per thread: set it in this one too
            torch.set_num_threads(self._registry.limits.torch_threads)
        try:
            self.trainer.run(self.budget)
        except Exception as e:  # an engine or data error must not take the server down
            log.exception("training job %s failed", self.name)
            self.failed, self.note = True, f"Training failed with an error: {e}"
        finally:
            self._finish()

    def _finish(self) -> None:
        self.ended = self.clock()
        if self._registry is not None:  # free the slot first: whoever waits on done may count slots
            self._registry._release(self)
        self._done.set()

    # ---- control (any thread) -----------------------------------------------------------
    def pause(self) -> None:
        if self.started is not None and not self.done and self._paused_since is None:
            self._paused_since = self.clock()
            self.trainer.pause()

    def resume(self) -> None:
        if self._paused_since is not None:
            self._paused_total += self.clock() - self._paused_since
            self._paused_since = None
        self.trainer.resume()

    def stop(self, note: str = "") -> None:
        """Stop a running job, or take a queued one out of the queue."""
        if self.done:
            return
        if note and not self.note:
            self.note = note
        if self._registry is not None and self._registry._dequeue(self):  # it was still waiting
            self.ended = self.clock()
            self._done.set()
            return
        self.trainer.stop()

    def update(self, **changes) -> None:
        """Live changes of learning rates, loss or d_steps (raises ConfigError)."""
        self.trainer.update(**changes)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # ---- reading ------------------------------------------------------------------------
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

    def view(self, with_history: bool = True) -> JobView:
        state = self.trainer.state(with_history=with_history)
        done = self.done
        status, reason = state.status, state.reason
        if self.queued:
            status, reason = "queued", ""
        elif self.failed:
            status, reason = "failed", self.note
        elif done and self.started is None:
            status, reason = "stopped", self.note or "Cancelled before it started."
        elif not done and self.paused:
            status = "paused"
        elif not done and status == "paused":
            status = "running"  # resumed: the worker is waking up
        elif not done and status in TERMINAL:
            status = "running"  # the worker is still wrapping up
        elif status == "stopped" and self.note:
            reason = f"{self.note} (at step {state.step:,})"
        fraction = self.budget.fraction(self.trainer) if self.started is not None else 0.0
        running = self.running_seconds()
        eta = running * (1 - fraction) / fraction if 0 < fraction < 1 and not done else None
        if self.budget.kind == "seconds" and not done:
            eta = max(0.0, self.budget.amount - state.seconds)
        return JobView(status=status, reason=reason, step=state.step, epoch=state.epoch,
                       images_seen=state.images_seen, seconds=state.seconds, fraction=fraction,
                       queue_position=self._registry.position(self) if self._registry else 0, eta=eta,
                       images_per_second=state.images_seen / state.seconds if state.seconds > 0 else 0.0,
                       history=state.history, snapshots=state.snapshots, settings=state.settings,
                       readings=state.readings, changes=state.changes, done=done)


class JobRegistry:
    """At most `limits.max_jobs` jobs train at once; the rest wait in a first-come queue."""

    def __init__(self, limits: Limits, is_alive: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, watch_every: float | None = 1.0,
                 set_threads: bool = True):
        self.limits = limits
        self.is_alive = is_alive or (lambda session_id: True)
        self.clock = clock
        self.running: list[Job] = []
        self.queue: list[Job] = []
        self._gone_since: dict[int, float] = {}
        self._lock = threading.RLock()
        if set_threads:
            tune_process(limits)
        self._watchdog = None
        if watch_every:
            self._stop_watching = threading.Event()
            self._watchdog = threading.Thread(target=self._watch, args=(watch_every,), name="gan-job-watchdog",
                                              daemon=True)
            self._watchdog.start()

    def submit(self, job: Job) -> Job:
        with self._lock:
            job._registry = self
            self.queue.append(job)
            self._fill()
        return job

    def position(self, job: Job) -> int:
        with self._lock:
            return self.queue.index(job) + 1 if job in self.queue else 0

    def stats(self) -> dict:
        with self._lock:
            return {"running": len(self.running), "queued": len(self.queue), "max_jobs": self.limits.max_jobs}

    def check(self) -> None:
        """One watchdog pass: stop jobs whose session is gone or whose time is up."""
        now = self.clock()
        with self._lock:
            jobs = self.running + self.queue
        for job in jobs:
            key = id(job)
            if self._alive(job):
                self._gone_since.pop(key, None)
            else:
                gone = self._gone_since.setdefault(key, now)
                if now - gone >= self.limits.session_grace:
                    job.stop("Stopped because its browser session ended.")
                    continue
            if job.started is not None and job.wall_seconds() > self.limits.max_run_seconds:
                job.stop(f"Stopped after {_duration(self.limits.max_run_seconds)}, the longest one run may take "
                         f"on this server.")

    def close(self, wait: float = 0.0) -> None:
        """Stop every job and the watchdog (tests, server shutdown), and give running jobs up to `wait`
        seconds in all to end their step."""
        if self._watchdog is not None:
            self._stop_watching.set()
        with self._lock:
            jobs = self.running + self.queue
        for job in jobs:
            job.stop("The server is shutting down.")
        if jobs:
            log.warning("registry closed: stopped %d training job(s)", len(jobs))
        deadline = time.monotonic() + wait
        for job in jobs:
            job.wait(max(0.0, deadline - time.monotonic()))

    # ---- internals ------------------------------------------------------------------------
    def _alive(self, job: Job) -> bool:
        try:
            return bool(self.is_alive(job.session_id))
        except Exception:  # a liveness probe that fails must not stop anyone's training
            log.exception("session liveness check failed")
            return True

    def _fill(self) -> None:
        while self.queue and len(self.running) < self.limits.max_jobs:
            job = self.queue.pop(0)
            self.running.append(job)
            job._start(self)

    def _release(self, job: Job) -> None:
        with self._lock:
            if job in self.running:
                self.running.remove(job)
            self._gone_since.pop(id(job), None)
            self._fill()

    def _dequeue(self, job: Job) -> bool:
        """Take a waiting job out of the queue; False if it is not waiting (it started, or never queued)."""
        with self._lock:
            if job not in self.queue:
                return False
            self.queue.remove(job)
            self._gone_since.pop(id(job), None)
            return True

    def _watch(self, every: float) -> None:
        while not self._stop_watching.wait(every):
            try:
                self.check()
            except Exception:  # keep watching whatever happens
                log.exception("job watchdog pass failed")


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"
