"""A sweep running for a page (explorer.app.sweeps.Sweep in a background thread), seen through published snapshots.

Why snapshots: a page polls from a Streamlit fragment every few seconds and must never wait on training or touch a
worker's objects mid-change. A watcher thread reads the sweep (its trial records, its trials' jobs) every `poll`
seconds and after each trial ends, and publishes one immutable `SweepView`; the page reads the newest in a lock.

Storage: the study is kept in a SQLite file of its own (Optuna's RDB storage), beside a SQLite run store, else in the
data folder (`sweep_storage`), never in the run store's own database. Optuna keeps its schema revision in a table
named `alembic_version`, as our migrations do: in one database, Optuna reads our revision and refuses to start
("no longer compatible with the table schema"), and its tables would be "extra tables" to our migrations' check
(tests/test_store_migrations.py). A sweep belongs to the server that runs it, so a file on that server is enough.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .backend import Backend
from .jobs import Job
from .limits import env_number
from .sweeps import FIGURES, Sweep, SweepResult, SweepSpec, TrialRecord

log = logging.getLogger(__name__)
SLOTS_SETTING = "GAN_EXPLORER_SWEEP_SLOTS"
DEFAULT_SLOTS = 2  # one student's sweep takes at most this many of the server's job slots
POLL_SECONDS = 1.0


def slots_from_env(environ: Mapping[str, str]) -> int:
    return env_number(environ, SLOTS_SETTING, DEFAULT_SLOTS, int, 1)


def sweep_storage(store_url, home: Path) -> str:
    """The Optuna storage URL for a run store at `store_url` (a SQLAlchemy URL): a SQLite file beside a SQLite store,
    else `home`/sweeps.sqlite (see the module's docstring on why never the store's own database)."""
    if store_url.get_backend_name() == "sqlite" and store_url.database not in (None, "", ":memory:"):
        path = Path(store_url.database)
        return f"sqlite:///{path.with_name(path.stem + '-sweeps.sqlite')}"
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'sweeps.sqlite'}"


@dataclass(frozen=True)
class Grid:
    """A trial's newest samples (the fixed latent batch), and its figure at that point."""
    number: int
    step: int
    images: torch.Tensor
    value: float | None
    done: bool


@dataclass(frozen=True)
class SweepView:
    figure: str
    trials: tuple[TrialRecord, ...] = ()
    best: TrialRecord | None = None
    pruned: int = 0
    saved_seconds: float = 0.0  # the training time the pruned trials did not take, about
    grids: tuple[Grid, ...] = ()  # by trial number
    done: bool = False
    error: str = ""  # why the sweep itself failed (a trial's failure is its record's note)

    @property
    def complete(self) -> int:
        return sum(t.state == "complete" for t in self.trials)


class _Watched:
    """The backend, telling the SweepRun of each job it submits: a trial that ends between two polls still leaves
    its last grid (Sweep.jobs holds only the training ones)."""

    def __init__(self, backend: Backend, on_submit):
        self._backend, self._on_submit = backend, on_submit

    def submit(self, spec) -> Job:
        job = self._backend.submit(spec)
        self._on_submit(job)
        return job

    def __getattr__(self, name):
        return getattr(self._backend, name)


class SweepRun:
    def __init__(self, spec: SweepSpec, backend: Backend, poll: float = POLL_SECONDS, sweep_poll: float | None = None):
        self.spec, self.poll = spec, poll
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}  # trial number -> its job, until its last grid is taken
        self._grids: dict[int, Grid] = {}
        kwargs = {} if sweep_poll is None else {"poll": sweep_poll}
        self.sweep = Sweep(spec, _Watched(backend, self._submitted), on_trial=lambda _: self._wake.set(), **kwargs)
        self.result: SweepResult | None = None
        self._wake = threading.Event()
        self._done = threading.Event()
        self._error = ""
        self._view = SweepView(spec.figure)
        self._runner = threading.Thread(target=self._run, name="gan-sweep", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="gan-sweep-watch", daemon=True)

    @property
    def study(self):
        return self.sweep.study

    def start(self) -> SweepRun:
        self._runner.start()
        self._watcher.start()
        return self

    def stop(self) -> None:
        self.sweep.stop()

    def view(self) -> SweepView:
        with self._lock:
            return self._view

    def wait(self, timeout: float | None = None) -> bool:
        """Until the sweep is done and its last view published (for tests and the server's stop)."""
        self._watcher.join(timeout)
        return not self._watcher.is_alive()

    # ---- the threads ------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.result = self.sweep.run()
        except Exception as e:  # a sweep that cannot go on (its storage went away): said on the page
            log.exception("a sweep failed")
            self._error = f"{type(e).__name__}: {e}"
        finally:
            self._done.set()
            self._wake.set()

    def _watch(self) -> None:
        while True:
            done = self._done.is_set()  # before the look, so the last look sees everything
            try:
                self._publish(done)
            except Exception:  # a look that failed (the storage, busy): the next one tries again
                log.exception("a sweep's view could not be made")
                if done:
                    with self._lock:
                        self._view = SweepView(self.spec.figure, done=True, error=self._error or "its view failed")
            if done:
                return
            self._wake.wait(self.poll)
            self._wake.clear()

    def _submitted(self, job: Job) -> None:
        number = int(job.name.rsplit("-", 1)[1])  # Sweep names a trial's job "<sweep>-<number>"
        with self._lock:
            self._jobs[number] = job

    def _publish(self, done: bool) -> None:
        trials = tuple(self.sweep.records())
        with self._lock:
            jobs = dict(self._jobs)
        for number, job in jobs.items():
            finished = job.done
            view = job.view()
            if view.snapshots:
                snap = view.snapshots[-1]
                value = float(getattr(view.readings[-1], self.spec.figure)) if view.readings else None
                self._grids[number] = Grid(number, snap.step, snap.images, value, finished)
            if finished:  # its last grid is kept; the job itself is let go
                with self._lock:
                    self._jobs.pop(number, None)
        view = SweepView(self.spec.figure, trials, best(trials, self.spec.figure),
                         sum(t.state == "pruned" for t in trials), saved_seconds(trials, self.spec),
                         tuple(self._grids[n] for n in sorted(self._grids)), done, self._error)
        with self._lock:
            self._view = view


def best(trials: tuple[TrialRecord, ...], figure: str) -> TrialRecord | None:
    complete = [t for t in trials if t.state == "complete" and t.value is not None and math.isfinite(t.value)]
    if not complete:
        return None
    pick = min if FIGURES[figure] == "minimize" else max
    return pick(complete, key=lambda t: t.value)


def saved_seconds(trials: tuple[TrialRecord, ...], spec: SweepSpec) -> float:
    """The training time pruning saved, about: each pruned trial's budget less the time it trained. A budget in
    steps has no time of its own: the complete trials' mean time stands in for it (0 before one completes)."""
    if spec.budget.kind == "seconds":
        full = spec.budget.amount
    else:
        times = [t.seconds for t in trials if t.state == "complete" and t.seconds is not None]
        full = sum(times) / len(times) if times else 0.0
    return sum(max(0.0, full - (t.seconds or 0.0)) for t in trials if t.state == "pruned")


# A page's sweeps, by session token: at most one each (explorer.ui.sweep keeps this per server).
@dataclass
class SweepRuns:
    by_session: dict[str, SweepRun] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token: str) -> SweepRun | None:
        with self.lock:
            return self.by_session.get(token)

    def start(self, token: str, spec: SweepSpec, backend: Backend) -> SweepRun:
        """Start this session's sweep; ValueError while its last one still runs."""
        with self.lock:
            old = self.by_session.get(token)
            if old is not None and not old.view().done:
                raise ValueError("your sweep is still running: stop it first")
            run = SweepRun(spec, backend)
            self.by_session[token] = run
        return run.start()

    def stop_all(self, wait: float = 5.0) -> None:
        with self.lock:
            runs = list(self.by_session.values())
        for run in runs:
            run.stop()
        deadline = time.monotonic() + wait
        for run in runs:
            run.wait(max(0.0, deadline - time.monotonic()))
