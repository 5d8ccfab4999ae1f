"""A student's GAN Explorer state, without Streamlit: its training job, the runs it finished or uploaded (the
last MAX_RUNS), and the current run, whose generator the latent pages explore.

A `Session` outlives the browser tab that made it: the server keeps it in `Sessions` under an unguessable
token (the pages put it in the address, as `?s=...`), so a reload, a reconnect or a laptop waking up finds
its run again. A session whose tabs have all been gone for `keep_seconds` is let go, its job stopped.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from ..config import Budget, GANConfig
from .backend import Backend
from .classes import Membership
from .jobs import Job, JobSpec
from .runs import Run

MAX_RUNS = 6  # runs kept per session; each holds a generator and a discriminator in memory
KEEP_SECONDS = 1800.0  # how long a session is kept once its last tab is gone
MAX_SESSIONS = 1000  # sessions kept at most; past it, the longest-gone ones are let go first


class Session:
    def __init__(self, token: str = ""):
        self.token = token  # the job's owner, for the backend's watchdog: alive while a tab shows this session
        self.job: Job | None = None
        self.runs: list[Run] = []
        self.current: Run | None = None
        self.run_counter = 0
        self.adopted = False  # the job's run has joined `runs`
        self.offer: Run | None = None  # a run that finished while another was current: offered, never switched to
        self.notes: list[str] = []  # what the next page should say once (a run the store could not bring back)
        self.classroom: Membership | None = None  # the class this session's new runs are shown to

    # ---- the job -----------------------------------------------------------------------------
    def start(self, backend: Backend, cfg: GANConfig, budget: Budget, lesson: str = "", fix_of: str = "") -> Job:
        """Check the setup now (ConfigError or DataError, before anything is queued), then submit it as this
        session's one job. `lesson` names the failure-mode lesson the run shows; `fix_of`, the run whose fix
        it tries."""
        name = f"Run {self.run_counter + 1}" + (" (the fix)" if fix_of else "")
        spec = JobSpec(cfg, budget, name=name, session_id=self.token, lesson=lesson, fix_of=fix_of,
                       class_code=self.classroom.code if self.classroom else "")
        spec.check()
        backend.check_admission(spec)  # Refused (a ConfigError): it could never fit, or the queue is full
        self.reset_job()
        self.run_counter += 1
        self.job = backend.submit(spec)
        self.adopted = False
        return self.job

    def reset_job(self) -> None:
        if self.job is not None:
            self.job.stop()
        self.job = None

    def sync(self) -> bool:
        """Once the job has ended, its run joins the runs: it becomes current if there is none, or if it is a lesson's
        fix and the current run is the one it fixes (the broken model was current only because the lesson made it);
        else it is offered (a student exploring a model is never switched away from it). True when that happened."""
        if self.job is None or not self.job.done or self.adopted:
            return False
        self.adopted = True
        run = Run.from_job(self.job)
        self.job.let_go()
        if run is None:
            return False
        fixes_current = bool(self.job.fix_of) and self.current is not None and self.current.name == self.job.fix_of
        self.add_run(run, make_current=self.current is None or fixes_current)
        if self.current is not run:
            self.offer = run
        return True

    # ---- runs and the current model ---------------------------------------------------------
    def add_run(self, run: Run, make_current: bool = True) -> None:
        kept = [r for r in self.runs if r is not run][-(MAX_RUNS - 1):]
        dropped = [r for r in self.runs if r not in kept and r is not run]
        self.runs = [*kept, run]
        if make_current or self.current is None or self.current in dropped:
            self.current = run
        if self.offer in dropped:
            self.offer = None

    def set_current(self, run: Run) -> None:
        self.current = run
        if self.offer is run:
            self.offer = None

    def drop(self, run: Run) -> None:
        """Forget a run (its weights could not be brought back from the run store); the newest left is current."""
        self.runs = [r for r in self.runs if r is not run]
        if self.current is run:
            self.current = self.runs[-1] if self.runs else None
        if self.offer is run:
            self.offer = None

    def find(self, name: str) -> Run | None:
        return next((r for r in self.runs if r.name == name), None)


class Sessions:
    """The server's sessions by token. `is_active(tab_id)` says whether a browser tab is still connected."""

    def __init__(self, is_active: Callable[[str], bool] = lambda tab_id: True, keep_seconds: float = KEEP_SECONDS,
                 max_sessions: int = MAX_SESSIONS, clock: Callable[[], float] = time.monotonic,
                 restore: Callable[[str], Session | None] | None = None):
        self.is_active, self.keep_seconds, self.max_sessions, self.clock = is_active, keep_seconds, max_sessions, clock
        self.restore = restore  # a session this server does not hold, from the run store (explorer.app.saver)
        self._sessions: dict[str, Session] = {}
        self._tabs: dict[str, set[str]] = {}  # token -> the tabs that showed it
        self._gone_since: dict[str, float] = {}
        self._lock = threading.Lock()

    def new(self, tab_id: str = "") -> Session:
        """A fresh session under a new unguessable token, shown by `tab_id`."""
        self.let_go()
        session = Session(secrets.token_urlsafe(16))
        with self._lock:
            self._sessions[session.token] = session
        self.attach(session.token, tab_id)
        return session

    def find(self, token: str, tab_id: str = "") -> Session | None:
        """The session under `token`, now shown by `tab_id` too; None if there is none (any more). One this server
        does not hold is brought back from the run store, when there is one (StoreError when it cannot say)."""
        with self._lock:
            session = self._sessions.get(token)
        if session is None and token and self.restore is not None:
            restored = self.restore(token)
            with self._lock:  # another tab may have brought it back meanwhile: keep the first
                session = self._sessions.setdefault(token, restored) if restored is not None else None
        if session is not None:
            self.attach(token, tab_id)
        return session

    def all(self) -> list[Session]:
        """Every session this server holds now."""
        with self._lock:
            return list(self._sessions.values())

    def attach(self, token: str, tab_id: str) -> None:
        if not tab_id:
            return
        with self._lock:
            self._tabs.setdefault(token, set()).add(tab_id)
            self._gone_since.pop(token, None)  # a tab shows it again: its keep time starts over when it goes

    def alive(self, token: str) -> bool:
        """Whether a tab still shows the session (what keeps its job training). Unknown tokens: not alive."""
        with self._lock:
            if token not in self._sessions:
                return False
            tabs = set(self._tabs.get(token, ()))
        return not tabs or any(self._active(t) for t in tabs)

    def let_go(self) -> int:
        """Drop the sessions whose tabs have all been gone for `keep_seconds` (and the longest-gone ones past
        `max_sessions`), stopping their jobs. Returns how many went."""
        now, gone = self.clock(), []
        with self._lock:
            tokens = list(self._sessions)
        for token in tokens:
            with self._lock:
                tabs = set(self._tabs.get(token, ()))
            if any(self._active(t) for t in tabs):
                with self._lock:
                    self._gone_since.pop(token, None)
                continue
            with self._lock:
                since = self._gone_since.setdefault(token, now)
            if now - since >= self.keep_seconds:
                gone.append(token)
        with self._lock:
            idle = sorted(self._gone_since, key=self._gone_since.get)
            gone += idle[: max(0, len(self._sessions) - len(set(gone)) - self.max_sessions)]
            dropped = [self._sessions.pop(t) for t in set(gone) if t in self._sessions]
            for token in set(gone):
                self._tabs.pop(token, None)
                self._gone_since.pop(token, None)
        for session in dropped:
            session.reset_job()
        return len(dropped)

    def __len__(self) -> int:
        return len(self._sessions)

    def _active(self, tab_id: str) -> bool:
        try:
            return bool(self.is_active(tab_id))
        except Exception:  # a liveness probe that fails must not drop anyone's session
            return True
