"""The queue and watchdog every backend shares: a `Backend` admits jobs while there is room, queues the rest first
come first served, and stops jobs whose session is gone or whose time is up. Backends say how a job trains
(explorer.app.threads, explorer.app.ray_backend) and when there is room."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from .jobs import Job, JobSpec, Refused
from .kept_runs import KeptRuns
from .limits import Limits, duration
from .queue_wait import Measured, PaceRecord, estimate

log = logging.getLogger(__name__)
SHUTDOWN_NOTE = "The server is shutting down."  # why close() stopped a job (the run store keeps it as a restart)


class BackendUnavailable(Exception):
    """The backend cannot run jobs (a Ray cluster that cannot be joined): its message says what is wrong and what
    to do, in plain words, for the page and the command line alike."""


class Backend(ABC):
    """Admits jobs while there is room (`_has_room`), queues the rest first come first served, and watches
    them (session gone, run too long) from a watchdog thread."""

    def __init__(self, limits: Limits, is_alive: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, watch_every: float | None = 1.0):
        self.limits = limits
        self.is_alive = is_alive or (lambda session_id: True)
        self.clock = clock
        self.running: list[Job] = []
        self.queue: list[Job] = []
        self._gone_since: dict[int, float] = {}
        self._lock = threading.RLock()
        self.kept = KeptRuns()  # the finished runs this server's sessions keep (explorer.app.kept_runs)
        self.paces = PaceRecord()  # how long the runs trained here took, for the waiting (explorer.app.queue_wait)
        self.problem = ""  # why no job can train now, in words for every page ("": they can)
        self._watchdog = None
        if watch_every:
            self._stop_watching = threading.Event()
            self._watchdog = threading.Thread(target=self._watch, args=(watch_every,), name="gan-job-watchdog",
                                              daemon=True)
            self._watchdog.start()

    @abstractmethod
    def _make_job(self, spec: JobSpec) -> Job:
        """This backend's kind of job for `spec`, on the backend's clock."""

    @abstractmethod
    def _has_room(self, job: Job) -> bool:
        """Whether `job` can start now, beside the running ones."""

    @abstractmethod
    def _check_fits(self, spec: JobSpec) -> None:
        """Raise Refused if `spec` could never run here, however long it waited (memory, a cluster's nodes)."""

    def capacity(self) -> int:
        """How many jobs can train at once (what the queue's cap scales with)."""
        return self.limits.max_jobs

    def waiting(self) -> int:
        """Jobs waiting for a slot."""
        with self._lock:
            return len(self._line())

    def _line(self) -> list[Job]:
        """The jobs waiting for a slot, first in line first (under the lock)."""
        return list(self.queue)

    def check_admission(self, spec: JobSpec) -> None:
        """Raise Refused now, at Start, if this backend would not take `spec`: it could never fit, or the queue is
        full. Nothing is queued or built."""
        self._check_fits(spec)
        waiting, cap = self.waiting(), self.limits.queue_cap(self.capacity())
        if waiting >= cap:
            raise Refused("server", f"every training slot is busy and its queue is full ({waiting} runs are waiting); "
                                    f"try again in a few minutes, when some have finished")

    def submit(self, spec: JobSpec) -> Job:
        """Queue `spec` as a job (it starts at once when there is room); Refused if the server will not take it."""
        job = self._make_job(spec)
        with self._lock:
            self.check_admission(spec)
            job._backend = self
            self.queue.append(job)
            self._fill()
        return job

    def position(self, job: Job) -> int:
        """Its place in line, from 1; 0 when it is not waiting."""
        with self._lock:
            line = self._line()
            return line.index(job) + 1 if job in line else 0

    def wait_estimate(self, job: Job) -> float | None:
        """Seconds until waiting `job` starts, played forward from the measured length of the runs ahead
        (explorer.app.queue_wait); None when it is not waiting or that cannot be told yet.

        The slots it counts are those this backend's training jobs hold: a job waits only while every slot it
        could have is taken (by the slot count or the memory), and they free up as those jobs end."""
        with self._lock:
            line = self._line()
            if job not in line:
                return None
            ahead = line[:line.index(job)]
            holding = [j for j in self.running if j.started is not None and not j.done]
        return estimate(holding, ahead, self.paces, self.limits.max_run_seconds)

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
                job.stop(f"Stopped after {duration(self.limits.max_run_seconds)}, the longest one run may take "
                         f"on this server.")
        with self._lock:  # memory let go since the last pass (a kept run: explorer.app.kept_runs) may make room
            self._fill()

    def close(self, wait: float = 0.0) -> None:
        """Stop every job and the watchdog (tests, server shutdown), and give running jobs up to `wait`
        seconds in all to end their step."""
        if self._watchdog is not None:
            self._stop_watching.set()
        with self._lock:
            jobs = self.running + self.queue
        for job in jobs:
            job.stop(SHUTDOWN_NOTE)
        if jobs:
            log.warning("backend closed: stopped %d training job(s)", len(jobs))
        deadline = time.monotonic() + wait
        for job in jobs:
            job.wait(max(0.0, deadline - time.monotonic()))
        if self._watchdog is not None:  # it ends within one pass: nothing of a closed backend keeps running
            self._watchdog.join(timeout=max(1.0, deadline - time.monotonic()))

    # ---- internals ------------------------------------------------------------------------
    def _alive(self, job: Job) -> bool:
        try:
            return bool(self.is_alive(job.session_id))
        except Exception:  # a liveness probe that fails must not stop anyone's training
            log.exception("session liveness check failed")
            return True

    def _fill(self) -> None:
        while self.queue and self._has_room(self.queue[0]):
            job = self.queue.pop(0)
            self.running.append(job)
            job._start(self)

    def _release(self, job: Job) -> None:
        if job._model is not None:  # booked before its place is freed, so the next job is admitted beside it
            self.kept.book(job._model)
        if job.started is not None and not (job.failed or job.lost):
            self.paces.add(job.spec, Measured.of(job.progress(), job.running_seconds()))
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
