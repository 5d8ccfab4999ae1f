"""A session brought back from the run store after a server restart (explorer.app.saver wrote it).

A reload of a session's `?s=` link on a server that no longer holds it in memory finds its runs here: the finished
ones whole (config, charts, snapshots, readings, weights), and the one that was training when the server stopped or
crashed as a `RestoredJob`: done, its charts as last saved, "Stopped by a server restart at step N", and its last
saved weights to train on from, through the continuation that already serves a lost Ray job
(explorer.app.continuation). Its generator is the weight average where the run kept one: that is what was saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .. import resume
from ..config import Budget, ConfigError
from ..progress import COLUMNS, HistoryTable, Progress, Row, Status
from .jobs import Job, JobSpec
from .runs import Run
from .session import MAX_RUNS, Session
from .store import RunStore, StoreError, restart_reason
from .store.values import RunSummary

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running", "paused")


class RestoredJob(Job):
    """A run that was training when the server went, as its session's job again: already done, nothing to control."""

    def __init__(self, spec: JobSpec, progress: Progress, weights: resume.Weights | None):
        super().__init__(spec)
        self.lost = True
        self.started = self.ended = self.created
        self._progress = progress
        self._weights = weights
        if weights is not None:
            self._model = resume.model_from(spec.cfg, weights, spec.name)
        self._done.set()

    def _launch(self) -> None:  # never admitted: it is over
        raise RuntimeError("a restored job does not train")

    def progress(self) -> Progress:
        return self._progress

    def _control(self, action: str, **changes) -> None:
        pass  # done: there is nothing to pause, stop or change

    def resume_point(self) -> resume.Weights | None:
        return self._weights


@dataclass
class Restored:
    session: Session
    ids: dict[str, int]  # run and job keys -> their rows
    problems: list[str]  # runs that could not be read back, and why


def restore(store: RunStore, token: str, reloader: Callable[[str, int], Callable[[], tuple]]) -> Restored | None:
    """The session under `token` as the store has it; None when it has none. StoreError when the store cannot say.
    Its finished runs come back without their nets: `reloader(token, run_id)` brings G and D when a page first
    asks for them (Run.let_go_of_nets), so a class's reloads after a restart read records, not weights."""
    record = store.session(token)
    if record is None:
        return None
    session = Session(token)
    session.run_counter = record.run_counter
    ids: dict[str, int] = {}
    problems: list[str] = []
    summaries = store.runs_of(token)
    stopped = [s for s in summaries if s.status in ACTIVE or s.interrupted]
    training = stopped[-1] if stopped else None
    weighed = store.runs_with_weights(token)
    for summary in summaries[-MAX_RUNS:]:
        if summary is training:
            continue
        if summary.id not in weighed:
            problems.append(f"{summary.name} could not be brought back: it has no saved weights.")
            continue
        try:
            kept = store.load_record(summary.id, token)
        except StoreError as e:
            problems.append(f"{summary.name} could not be brought back: {e}.")
            continue
        # The config is the one its last weights were saved with (RunStore.save_weights keeps the two together).
        run = Run(summary.name, kept.cfg, None, None, kept.meta, kept.history, kept.snapshots, summary.source,
                  kept.readings)
        run.let_go_of_nets(reloader(token, summary.id))
        run.key = f"store-{summary.id}"
        ids[run.key] = summary.id
        session.runs.append(run)
    session.current = next((r for r in session.runs if ids[r.key] == record.current_run_id), None)
    if session.current is None and record.current_run_id is not None and not problems:
        problems.append("The generator you were exploring is no longer in the run store: runs are let go "
                        f"{store.settings.keep_days:g} days after their last change, and the oldest first when the "
                        f"store is full.")
    if session.current is None and session.runs:
        session.current = session.runs[-1]
    if training is not None:
        try:
            session.job = _restored_job(store, token, training)
            ids[session.job.spec.key] = training.id
        except (StoreError, ConfigError) as e:
            problems.append(f"{training.name} could not be brought back: {e}.")
    return Restored(session, ids, problems)


def _restored_job(store: RunStore, token: str, summary: RunSummary) -> RestoredJob:
    record = store.load_record(summary.id, token)
    reason = summary.reason if summary.interrupted else restart_reason(summary.step)
    if summary.status in ACTIVE:  # it was training when the server went: say so in the store too
        store.save_record(summary.id, Status.STOPPED, reason, summary.step)
    weights = None
    try:
        run = store.load_run(summary.id, token)
    except StoreError as e:
        log.info("no weights to go on from for run %s: %s", summary.id, e)
        run = None
    meta = run.meta if run is not None else record.meta
    budget = meta.get("budget") if isinstance(meta.get("budget"), dict) else {}
    spec = JobSpec(record.cfg.replace(live_changes=[]), Budget(budget.get("kind", "steps"),
                                                               budget.get("amount", max(1, summary.step))),
                   name=summary.name, session_id=token, lesson=summary.lesson, fix_of=summary.fix_of,
                   measure=bool(meta.get("measure", True)), key=f"store-{summary.id}")
    step = int(meta.get("steps", 0) or 0) if run is not None else 0
    shown = _progress(record, reason, summary.step, meta)
    if run is not None and step > 0:  # the record as it stood at the weights' step, to go on from there
        if step < summary.step:  # the charts are saved every 2 s, the weights every 30 s
            reason += f" Its weights were last saved at step {step:,}: training goes on from there."
            shown = _progress(record, reason, summary.step, meta)
        at = _progress(record, reason, step, meta)
        state = {k: v.detach().cpu() for k, v in run.G.state_dict().items()}
        weights = resume.Weights(state, {k: v.detach().cpu() for k, v in run.D.state_dict().items()}, None, at)
    else:
        reason += " No weights had been saved yet, so there is nothing to go on from: start it again."
        shown = _progress(record, reason, summary.step, meta)
    return RestoredJob(spec, shown, weights)


def _progress(record, reason: str, step: int, meta: dict) -> Progress:
    """The run's record up to `step` (chart rows, snapshots, readings, changes), as a finished job publishes it."""
    history = record.history
    rows = [Row(*values) for values in zip(*(history.get(c, []) for c in COLUMNS))] if history else []
    rows = [r for r in rows if r.step <= step]
    last = rows[-1] if rows else None
    return Progress(status=Status.STOPPED, reason=reason, step=step,
                    epoch=int(last.epoch) if last else int(meta.get("epochs", 0) or 0),
                    images_seen=int(last.images) if last else int(meta.get("images_seen", 0) or 0),
                    seconds=float(last.seconds) if last else float(meta.get("seconds", 0.0) or 0.0),
                    history=HistoryTable(tuple(rows)),
                    snapshots=tuple(s for s in record.snapshots if s.step <= step),
                    settings=dict(record.settings),
                    readings=tuple(r for r in record.readings if r.step <= step),
                    changes=tuple(c for c in record.changes if c.step <= step),
                    nudges=tuple(c for c in record.nudges if c.step <= step))
