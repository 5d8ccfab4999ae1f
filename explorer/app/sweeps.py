"""Sweeps: try many settings of one setup at once, planned by Optuna, each trial an ordinary training job.

Optuna plans (a grid when every varied setting lists its values, else TPE), prunes (the median rule, on the
quality meter's readings as they come) and stores the study (in memory, or any SQLAlchemy database URL). This
module only turns a trial into a job on a `Backend` and the job's quality readings into Optuna's numbers; it has
no search loop of its own.

Seed policy: every trial trains with the base config's seed (the same first weights where the shapes agree, the
same latent batches, the same quality-meter samples), so trials differ only in the varied settings. TPE's own
draws are seeded with it too, so a sweep on one machine plans the same trials again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from ..config import Budget, ConfigError, GANConfig
from ..data import DataError
from ..quality import Reading
from ..trainer import TrainedModel
from .backend import Backend
from .jobs import Job, JobSpec
from .vary import Vary

log = logging.getLogger(__name__)
# What a sweep may optimise: a figure of the quality meter's readings, and which way is better.
FIGURES = {"fid": "minimize", "looks_real": "maximize", "read_as": "maximize"}
MARKS = 100  # the trials report their readings at each percent of the budget, so the pruner compares like with like
WARMUP_MARKS = 10  # no pruning in the first 10% of a trial's budget: early readings are noise for everyone
STARTUP_TRIALS = 3  # nor before this many trials have completed, to know what the median is
POLL_SECONDS = 0.2
INTERRUPTED = "interrupted"  # a trial's user attribute: it was running when its sweep's process ended


class TrialFailed(Exception):
    """A trial whose job could not train to the end (refused, failed, diverged, collapsed, stopped by the server):
    a failed trial of the study, with its reason, never a dropped one."""


@dataclass(frozen=True)
class SweepSpec:
    base: GANConfig
    varies: tuple[Vary, ...]
    budget: Budget  # of each trial, in steps or seconds
    trials: int
    figure: str = "fid"
    prune: bool = False
    slots: int = 1  # jobs at once, at most
    storage: str | None = None  # an Optuna RDB storage URL (sqlite:///..., postgresql+psycopg://...); None: memory
    name: str = "sweep"  # the study's name in the storage
    session_id: str = ""

    def check(self) -> None:
        """Raise ConfigError for a sweep that cannot run, naming the setting."""
        if self.figure not in FIGURES:
            raise ConfigError("figure", f"{self.figure!r} is not one of {', '.join(FIGURES)}")
        if self.budget.kind not in ("steps", "seconds"):
            raise ConfigError("budget", "a sweep's trials are budgeted in steps or seconds")
        if not 1 <= self.trials <= 1000:
            raise ConfigError("trials", f"{self.trials} is out of range: a sweep runs 1 to 1000 trials")
        if not 1 <= self.slots <= 64:
            raise ConfigError("slots", f"{self.slots} is out of range: a sweep uses 1 to 64 job slots")

    @property
    def grid(self) -> dict[str, list] | None:
        """The search space as a grid, when every varied setting lists its values; else None (TPE)."""
        if all(v.is_choice for v in self.varies):
            return {v.name: list(v.choices) for v in self.varies}
        return None

    def config(self, params: dict) -> GANConfig:
        """A trial's config: the base with the trial's values (same seed: the seed policy)."""
        return self.base.replace(**params)


@dataclass(frozen=True)
class TrialRecord:
    number: int
    params: dict
    value: float | None  # the figure: at the end for a complete trial, at its last reading for a pruned one
    state: str  # complete, pruned, failed or running
    note: str = ""  # why it failed
    seconds: float | None = None  # its training time

    def to_dict(self) -> dict:
        return {"number": self.number, "params": self.params, "figure": self.value, "state": self.state,
                **({"note": self.note} if self.note else {}),
                **({"seconds": round(self.seconds, 2)} if self.seconds is not None else {})}


@dataclass
class SweepResult:
    figure: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    best_model: TrainedModel | None = field(repr=False)  # the best trial's trained model, when it is still held
    wall_seconds: float

    @property
    def pruned(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)

    def to_dict(self) -> dict:
        best = None if self.best is None else {"number": self.best.number, "params": self.best.params,
                                               "figure": self.best.value}
        return {"figure": self.figure, "trials": [t.to_dict() for t in self.trials], "best": best,
                "pruned": self.pruned, "wall_seconds": round(self.wall_seconds, 2)}


def figure_of(reading: Reading, figure: str) -> float:
    return float(getattr(reading, figure))


def make_study(spec: SweepSpec) -> optuna.Study:
    """The sweep's study: created, or loaded from its storage to go on with."""
    grid = spec.grid
    sampler = (optuna.samplers.GridSampler(grid, seed=spec.base.seed) if grid is not None
               else optuna.samplers.TPESampler(seed=spec.base.seed))
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_MARKS)
              if spec.prune else optuna.pruners.NopPruner())
    storage = optuna.storages.RDBStorage(spec.storage) if spec.storage else None
    return optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner,
                               direction=FIGURES[spec.figure], load_if_exists=True)


class Sweep:
    """Runs a sweep's trials as jobs on `backend`, at most `spec.slots` at once.

    Why `study.optimize(n_jobs=slots)` rather than ask/tell: the slots are Optuna's own worker threads, each one
    trial's objective at a time, which submits its job and polls it (sleeping between looks; the training runs in
    the backend's threads or on Ray), so the slot bound, the pruning calls and the failed-trial bookkeeping are
    Optuna's, not a loop of ours."""

    def __init__(self, spec: SweepSpec, backend: Backend, poll: float = POLL_SECONDS,
                 on_trial: Callable[[TrialRecord], None] | None = None):
        """`on_trial`: called with each trial's record as it ends (from the slot's thread)."""
        spec.check()
        self.spec, self.backend, self.poll, self.on_trial = spec, backend, poll, on_trial
        self.study = make_study(spec)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._best: tuple[float, TrainedModel] | None = None  # only the best model is held; the rest let go
        self.jobs: dict[int, Job] = {}  # the trials' jobs that are training now, by trial number

    # ---- running ------------------------------------------------------------------------------
    def run(self) -> SweepResult:
        """Run the trials still to run (after a restart: those left unfinished, again) and return the outcome."""
        t0 = time.perf_counter()
        self.resume_interrupted()
        todo = self.spec.trials - len(self.records(states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)))
        grid = self.spec.grid
        if grid is not None:  # the grid sampler stops the study once every point is done; no point asking for more
            todo = min(todo, math.prod(len(v) for v in grid.values()))
        if todo > 0 and not self._stopping.is_set():
            self.study.optimize(self._objective, n_trials=todo, n_jobs=self.spec.slots, catch=(TrialFailed,),
                                callbacks=[self._trial_ended], gc_after_trial=False)
        return self.result(time.perf_counter() - t0)

    def stop(self) -> None:
        """Stop the training trials (they become failed trials) and start no more."""
        self._stopping.set()
        with self._lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.stop("The sweep was stopped.")

    def resume_interrupted(self) -> None:
        """Trials a stored study shows as running were cut off with their process (a server restart): mark them
        failed, as interrupted, and queue their settings to run again. Assumes no other process runs this sweep
        now (one server per sweep)."""
        storage = self.study._storage  # Optuna's public API has no way to fail another process's trial
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_user_attr(t._trial_id, "note", "Interrupted: its server stopped; run again.")
            storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            self.study.enqueue_trial(t.params, skip_if_exists=False)

    def _trial_ended(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.on_trial is not None:
            self.on_trial(record(trial))
        if self._stopping.is_set():
            study.stop()

    def _objective(self, trial: optuna.Trial) -> float:
        params = {v.name: v.suggest(trial) for v in self.spec.varies}
        try:
            job_spec = JobSpec(self.spec.config(params), self.spec.budget, name=f"{self.spec.name}-{trial.number}",
                               session_id=self.spec.session_id)
            job_spec.check()
            job = self.backend.submit(job_spec)  # Refused is a ConfigError
        except (ConfigError, DataError) as e:
            raise self._failed(trial, str(e)) from None
        with self._lock:
            self.jobs[trial.number] = job
        try:
            return self._follow(trial, job)
        finally:
            with self._lock:
                self.jobs.pop(trial.number, None)

    def _follow(self, trial: optuna.Trial, job: Job) -> float:
        """Report each new reading to the trial while the job trains; prune it when Optuna says so."""
        last_step, marked, value = -1, -1, math.nan
        while True:
            if self._stopping.is_set():
                job.stop("The sweep was stopped.")
            done = job.done  # before the view, so a done job's view holds its last reading
            view = job.view()
            new = [r for r in view.readings if r.step > last_step]
            for reading in new:
                last_step, value = reading.step, figure_of(reading, self.spec.figure)
                mark = self._mark(reading)
                if math.isfinite(value) and mark > marked:
                    for m in range(marked + 1, mark + 1):  # "the figure as of this share of the budget"
                        trial.report(value, m)
                    marked = mark
            if done:
                break
            if new and self.spec.prune and trial.should_prune():
                job.stop("Pruned: clearly worse than the median trial at this point.")
                job.wait()  # its slot is free before the next trial asks for one
                job.let_go()
                trial.set_user_attr("seconds", job.view().seconds)  # the training time pruning saved is the rest
                raise optuna.TrialPruned(f"pruned at {marked}% of its budget")
            time.sleep(self.poll)
        trial.set_user_attr("seconds", view.seconds)
        status = view.status
        if status.failed or job.failed:
            raise self._failed(trial, f"{status}: {view.reason or job.note}")
        if not self.spec.budget.done(view.progress):
            raise self._failed(trial, view.reason or job.note or f"{status} before the end of its budget")
        if not view.readings:
            raise self._failed(trial, view.meter_note or "the quality meter took no reading")
        if not math.isfinite(value):
            raise self._failed(trial, f"its {self.spec.figure} is {value}")
        self._keep_if_best(value, job)
        return value

    def _mark(self, reading: Reading) -> int:
        """Where in the trial's budget a reading was taken, in percent."""
        done = reading.step if self.spec.budget.kind == "steps" else reading.seconds
        return min(MARKS, int(MARKS * done / self.spec.budget.amount))

    def _failed(self, trial: optuna.Trial, note: str) -> TrialFailed:
        trial.set_user_attr("note", note)
        return TrialFailed(note)

    def _keep_if_best(self, value: float, job: Job) -> None:
        """Hold the best trial's trained model (its checkpoint is what a sweep leaves); let the others go, so the
        server's memory admission does not count a sweep's every model (explorer.app.kept_runs)."""
        model = job.result()
        better = FIGURES[self.spec.figure] == "minimize"
        with self._lock:
            if model is not None and (self._best is None or (value < self._best[0] if better
                                                             else value > self._best[0])):
                self._best = (value, model)
        job.let_go()

    # ---- the outcome --------------------------------------------------------------------------
    def records(self, states: tuple[TrialState, ...] | None = None) -> list[TrialRecord]:
        """The trials so far (the re-run ones once only: an interrupted trial's first go is left out)."""
        return [record(t) for t in self.study.get_trials(deepcopy=False, states=states)
                if not (t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED))]

    def result(self, wall_seconds: float) -> SweepResult:
        trials = self.records()
        complete = [t for t in trials if t.state == "complete"]
        best = None
        if complete:
            pick = min if FIGURES[self.spec.figure] == "minimize" else max
            best = pick(complete, key=lambda t: t.value)
        with self._lock:
            held = self._best
        model = held[1] if held is not None and best is not None and held[0] == best.value else None
        return SweepResult(self.spec.figure, trials, best, model, wall_seconds)


STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def record(t: optuna.trial.FrozenTrial) -> TrialRecord:
    value = t.value
    if value is None and t.intermediate_values:  # a pruned trial: its figure at its last reading
        value = t.intermediate_values[max(t.intermediate_values)]
    return TrialRecord(t.number, dict(t.params), value, STATES[t.state], t.user_attrs.get("note", ""),
                       t.user_attrs.get("seconds"))
