"""Saving every session's runs while they train, off the training threads: one background thread writes to the
run store (explorer.app.store) every few seconds.

Each round, for every session the server holds: its job's record (status, chart rows, readings, live changes,
step-mode updates, the newest snapshots) when it moved on; its job's weights (the copy the job takes between
steps, explorer.app.jobs.Job.last_weights) every `weights_every` seconds; the trained model and the final record
once the job is done; the runs it uploaded; and which run is current. A server that restarts or crashes so loses at
most a few seconds of charts and the last half minute of weights (explorer.app.restore brings a session back).

A write that fails (the database went away, a full disk) is tried again on the next round, and `problem` says so
meanwhile, for the pages' warning. Each write replaces the stored state with the newest, so the store catches up by
itself once it answers again. Nothing here waits on a training thread: it reads what jobs publish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..config import GANConfig
from ..nets import build
from ..progress import Status
from .backend import SHUTDOWN_NOTE
from .classes import Membership
from .jobs import Job
from .restore import restore
from .runs import Run
from .session import Session
from .store import RunStore, StoreError, restart_reason
from .store.classes import ClassBook

log = logging.getLogger(__name__)
SAVE_SECONDS = 2.0  # between rounds: what a crash may lose of the charts
WEIGHTS_SECONDS = 30.0  # between two saves of a training job's weights
EVICT_SECONDS = 600.0  # between two passes of the store's retention (GAN_EXPLORER_KEEP_DAYS, GAN_EXPLORER_MAX_STORE)


@dataclass
class Saved:
    """What the store holds of one job: its run's row, and the marks of what was written last."""
    run_id: int
    record: tuple = ()
    weights_step: int = -1
    weights_at: float = float("-inf")
    final: bool = False  # its end is saved: nothing more to write


class Saver:
    def __init__(self, store: RunStore, sessions: Callable[[], Iterable[Session]], every: float | None = SAVE_SECONDS,
                 weights_every: float = WEIGHTS_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.sessions = sessions
        self.weights_every = weights_every
        self.clock = clock
        self.problem = ""  # why the last round could not save everything, in words; "" when all is saved
        self.closing = False  # close() has run (or a test stands for a crash): no more rounds from the thread
        self.ids: dict[str, int] = {}  # run or job key -> its row in the store
        # Books nets brought back from the store in memory again (the backend's KeptRuns.book_nets), for admission.
        self.book_nets: Callable[[torch.nn.Module, GANConfig], None] | None = None
        self._jobs: dict[str, Saved] = {}  # job key -> what is saved of it
        self._sessions: dict[str, tuple] = {}  # token -> (run counter, current run's row) as saved
        self._lock = threading.Lock()  # one round at a time (the thread's, or save_now's)
        self._evicted_at = float("-inf")
        self._stop = threading.Event()
        self._thread = None
        if every:
            self._thread = threading.Thread(target=self._loop, args=(every,), name="gan-run-saver", daemon=True)
            self._thread.start()

    def restore(self, token: str) -> Session | None:
        """The session under `token` from the store (explorer.app.restore), None when it has none. Its runs are known
        to this saver from now on, so nothing is written twice. Runs that cannot be read back are named in the
        session's `notes`. StoreError when the store cannot say."""
        found = restore(self.store, token, self._reloader)
        if found is None:
            return None
        with self._lock:
            self.ids.update(found.ids)
            session = found.session
            for run in session.runs:  # saved whole: their nets go back to the store again when nobody looks
                self._jobs[run.key] = Saved(found.ids[run.key], final=True)
            if session.job is not None:
                self._jobs[session.job.spec.key] = Saved(found.ids[session.job.spec.key], final=True)
            self._sessions[token] = (session.run_counter, self.ids.get(session.current.key) if session.current
                                     else None)
        session.notes += found.problems
        code = ClassBook(self.store).class_of(token)  # its class, so that a run it starts there is on the board
        member = ClassBook(self.store).member(code, token) if code else None
        if member is not None:
            session.classroom = Membership(code, member)
        return session

    # ---- rounds ----------------------------------------------------------------------------------------------
    def save_now(self) -> bool:
        """One round on this thread; True when everything was saved."""
        with self._lock:
            failures = []
            for session in list(self.sessions()):
                try:
                    self._save_session(session)
                except StoreError as e:
                    failures.append(str(e))
                except Exception as e:  # a bug in one session's save must not stop the others'
                    log.exception("saving a session's runs failed")
                    failures.append(f"saving failed with an error: {e}")
            self._evict()
            if failures and not self.problem:
                log.warning("the run store could not save everything: %s", failures[0])
            elif self.problem and not failures:
                log.warning("the run store saves again")
            self.problem = failures[0] if failures else ""
            return not failures

    def save_session_now(self, session: Session) -> bool:
        """One session's round, on this thread: a run just started is then in the store (and on its class's board,
        with its switch on the student's page) at once, not at the next round. False when the store failed."""
        with self._lock:
            try:
                self._save_session(session)
            except StoreError:
                return False  # the next round tries again, and says so
            return True

    def close(self, flush: bool = True) -> None:
        """At server stop (after the backend stopped its jobs): a last round, then no more."""
        if self.closing:
            return
        self.closing = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if flush:
            self.save_now()
        self.store.close()

    def _loop(self, every: float) -> None:
        while not self._stop.wait(every):
            self.save_now()

    def _evict(self) -> None:
        if self.clock() - self._evicted_at < EVICT_SECONDS:
            return
        self._evicted_at = self.clock()
        gone = self.store.evict()
        classes = ClassBook(self.store).evict(self.store.settings.keep_days)  # a class lasts as long as its runs
        if classes:
            log.info("the run store let %d class(es) go", len(classes))
        if gone:
            log.info("the run store let %d run(s) go (%s)", len(gone), ", ".join(sorted({e.why for e in gone})))
        gone_ids = {e.id for e in gone}
        self.ids = {key: i for key, i in self.ids.items() if i not in gone_ids}

    # ---- one session ----------------------------------------------------------------------------------------
    def _save_session(self, session: Session) -> None:
        token = session.token
        if session.job is not None:
            self._save_job(token, session.job)
        for run in list(session.runs):
            saved = self._jobs.get(run.key)
            if run.source != "demo" and not (run.key in self.ids and (saved is None or saved.final)):
                self._save_run(token, run)
        for run in list(session.runs):  # saved whole, and nobody looks at it now: its nets back to the store
            saved = self._jobs.get(run.key)
            if (run.in_memory and saved is not None and saved.final and run is not session.current
                    and run is not session.offer):
                run.let_go_of_nets(self._reloader(token, saved.run_id))
        current = session.current
        state = (session.run_counter, self.ids.get(current.key) if current is not None else None)
        if (session.runs or session.job is not None) and self._sessions.get(token) != state:
            self.store.save_session(token, *state)
            self._sessions[token] = state

    def _save_job(self, token: str, job: Job) -> None:
        saved = self._jobs.get(job.spec.key)
        if saved is not None and saved.final:
            return
        view = job.view()  # before `done` is read: a view of a done job is its last
        done = job.done
        if saved is None:
            run_id = self.store.create_run(token, Run(job.name, job.cfg, None, None, self._meta(job)),
                                           status=view.status, lesson=job.lesson, fix_of=job.fix_of,
                                           class_code=job.spec.class_code)
            saved = self._jobs[job.spec.key] = Saved(run_id)
            self.ids[job.spec.key] = run_id
        status, reason = view.status, view.reason
        if done and status == Status.STOPPED and job.note == SHUTDOWN_NOTE:
            reason = restart_reason(view.step)  # kept as a run that can train on after the restart
        p = view.progress
        mark = (status, reason, view.step, len(p.history), len(p.readings), len(p.changes), len(p.nudges),
                tuple((s.step, s.push is not None) for s in p.snapshots[-2:]), tuple(sorted(p.settings.items())))
        if mark != saved.record:
            self.store.save_record(saved.run_id, status, reason, view.step, view.history, p.readings, p.changes,
                                   p.nudges, p.snapshots, p.settings)
            saved.record = mark
        if done:
            model = job.result()  # None once its session made it a run: then the run is saved whole (_save_run)
            if model is not None:
                self.store.save_weights(saved.run_id, "final", model.cfg, model.G, model.D,
                                        {**model.meta, **self._meta(job)}, step=view.step)
                saved.final = True
            return
        weights = job.last_weights
        if (weights is not None and weights.step != saved.weights_step
                and self.clock() - saved.weights_at >= self.weights_every):
            cfg = job.cfg.replace(**weights.progress.settings)
            G, D = build(cfg)
            G.load_state_dict(weights.generator if weights.generator is not None else weights.G)
            D.load_state_dict(weights.D)
            p = weights.progress
            meta = {**self._meta(job), "steps": p.step, "epochs": p.epoch, "images_seen": p.images_seen,
                    "seconds": round(p.seconds, 3)}
            self.store.save_weights(saved.run_id, "latest", cfg, G, D, meta, step=p.step)
            saved.weights_step, saved.weights_at = weights.step, self.clock()

    def _save_run(self, token: str, run: Run) -> None:
        """A finished or uploaded run whole: one whose job ended (or was replaced) between two rounds, or an upload."""
        status = run.meta.get("status", Status.FINISHED) if run.source == "trained" else Status.FINISHED
        reason = str(run.meta.get("reason", ""))
        run_id = self.ids.get(run.key)
        if run_id is None:
            run_id = self.store.create_run(token, run, status=status, reason=reason,
                                           fix_of=str(run.meta.get("fix_of", "")))
        else:  # its job's row, saved while it trained
            self.store.save_record(run_id, status, reason, run.steps or 0, run.history, run.readings,
                                   snapshots=run.snapshots)
        self.store.save_weights(run_id, "final", run.cfg, run.G, run.D, run.meta)
        self.ids[run.key] = run_id
        self._jobs[run.key] = Saved(run_id, final=True)

    def _reloader(self, token: str, run_id: int):
        def reload():
            run = self.store.load_run(run_id, token)  # StoreError: the page says why it cannot show the run
            if self.book_nets is not None:  # held in memory again: admission counts them until they are let go
                self.book_nets(run.G, run.cfg)
            return run.G, run.D
        return reload

    @staticmethod
    def _meta(job: Job) -> dict:
        """What a continuation needs beside the weights: the budget, the lesson, whether the meter ran."""
        return {"name": job.name, "budget": {"kind": job.budget.kind, "amount": job.budget.amount},
                "lesson": job.lesson, "fix_of": job.fix_of, "measure": job.spec.measure}
