"""The thread backend: each job trains in a worker thread of this server process.

At most `limits.max_jobs` jobs train at once; the rest wait in line. Torch's intra-op thread pool is
process-wide, so it is sized once (explorer.app.limits.tune_process) so that concurrent jobs and the web
server do not oversubscribe the CPU. A job builds its trainer (networks, optimizers, the data on the
device) in its worker thread once admitted, so a queued job holds no memory; once done, it keeps only
the trained model, and the trainer with its optimizer state and weight copies is let go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import torch

from .. import live_settings, resume
from ..data import Digits
from ..data import load as load_data
from ..progress import Progress
from ..trainer import Trainer
from .backend import Backend
from .jobs import Job, JobSpec
from .kept_runs import runs_budget
from .limits import Limits, tune_process

log = logging.getLogger(__name__)
FIRST_WEIGHTS_SECONDS = 10.0  # a copy of the weights this long into a run, then every WEIGHTS_SECONDS (run store)
WEIGHTS_SECONDS = 30.0


class ThreadJob(Job):
    def __init__(self, spec: JobSpec, data: Digits | None = None, threads: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(spec, clock)
        self.data = data
        self.threads = threads
        self._trainer: Trainer | None = None
        self._final = Progress(settings=live_settings.current(spec.cfg))  # until the trainer publishes
        self._asked: list[tuple[str, dict]] = []  # control that came before the trainer was built
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._weights: resume.Weights | None = spec.start_from
        self._next_copy = 0.0

    @property
    def last_weights(self) -> resume.Weights | None:
        return self._weights

    def _launch(self) -> None:
        self._thread = threading.Thread(target=self._work, name=f"gan-job-{self.name}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        if self.threads:  # OpenMP keeps its thread count per thread: set it in this one too
            torch.set_num_threads(self.threads)
        try:
            trainer = Trainer(self.spec.cfg, self.data or load_data(self.spec.cfg.data), measure=self.spec.measure,
                              start_from=self.spec.start_from)
            with self._lock:
                self._trainer = trainer
                for action, changes in self._asked:
                    _send(trainer, action, changes)
            self._next_copy = time.monotonic() + FIRST_WEIGHTS_SECONDS
            trainer.run(self.spec.budget, on_step=lambda _: self._copy_weights(trainer))
            self._final = trainer.state()
            if trainer.step_count > 0:
                self._model = trainer.trained_model(name=self.name)
        except Exception as e:  # an engine or data error must not take the server down
            log.exception("training job %s failed", self.name)
            self._fail(f"Training failed with an error: {e}")
        finally:
            with self._lock:
                if self._trainer is not None:
                    self._final = self._trainer.state()
                self._trainer = None  # optimizers, data on the device, rollback copies: let go
            self._finish()

    def let_go(self) -> None:
        super().let_go()
        if self.done:
            self._weights = None  # its last copy: only a run still training could go on from it

    def _copy_weights(self, trainer: Trainer) -> None:
        """Between two steps, on the training thread: a CPU copy of the weights now and then (a few milliseconds)."""
        if time.monotonic() >= self._next_copy:
            self._weights = resume.take(trainer)
            self._next_copy = time.monotonic() + WEIGHTS_SECONDS

    def _control(self, action: str, **changes) -> None:
        with self._lock:
            if self._trainer is None:
                if action == "update":  # validated against the spec now, as a running trainer would
                    live_settings.Pending().ask(self.spec.cfg, changes)
                if not self.done:
                    self._asked.append((action, changes))
                return
            _send(self._trainer, action, changes)

    def progress(self) -> Progress:
        trainer = self._trainer
        return trainer.state() if trainer is not None else self._final


def _send(trainer: Trainer, action: str, arguments: dict) -> None:
    getattr(trainer, action)(**arguments)  # pause(), update(g_lr=...), nudge(update="d"), ...


class ThreadBackend(Backend):
    """At most `limits.max_jobs` jobs train at once in this process, while their memory estimates fit the server's
    budget (`limits.max_memory`, less what the process held when the backend started and a reserve for the pages);
    the rest wait in a first-come queue.

    The runs that finished here stay in this process for as long as a session keeps them, so they share that budget
    (explorer.app.kept_runs); the watchdog's passes admit whoever waited on a run that was let go."""

    def __init__(self, limits: Limits, is_alive: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic, watch_every: float | None = 1.0,
                 set_threads: bool = True, data: Digits | None = None):
        super().__init__(limits, is_alive, clock, watch_every)
        self.data = data
        if set_threads:
            tune_process(limits)
        self._threads = limits.torch_threads if set_threads else None
        # What training may use: the budget less the server itself (torch, Streamlit, ...) as it starts.
        self.job_memory = runs_budget(limits)

    def _make_job(self, spec: JobSpec) -> ThreadJob:
        return ThreadJob(spec, self.data, self._threads, clock=self.clock)

    def _check_fits(self, spec: JobSpec) -> None:
        if self.job_memory is not None and spec.memory > self.job_memory:
            raise spec.too_big(self.job_memory, "this server lets training use (GAN_EXPLORER_MAX_MEMORY)")

    def memory_in_use(self) -> int:
        """The estimated peak bytes of the jobs training now, and what the finished runs still kept hold."""
        with self._lock:
            return sum(job.spec.memory for job in self.running) + self.kept.bytes()

    def _has_room(self, job: Job) -> bool:
        if len(self.running) >= self.limits.max_jobs:
            return False
        return self.job_memory is None or self.memory_in_use() + job.spec.memory <= self.job_memory
