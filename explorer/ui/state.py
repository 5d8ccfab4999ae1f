"""A browser tab's GAN Explorer state, and the server's job backend and sessions.

Per tab: one `explorer.app.session.Session` (its job, its runs, the current run), found again by the token in
the address (`?s=...`) after a reload or a reconnect. Per process, shared by every tab through
`st.cache_resource`: the job backend (`registry()`) and the sessions by token (`sessions()`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading

import streamlit as st
import torch
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from .. import metrics, quality
from ..app import backends, server_settings
from ..app.backend import Backend, BackendUnavailable
from ..app.board import GALLERY, WALL, Grids
from ..app.classes import Classes
from ..app.jobs import Job
from ..app.limits import env_number
from ..app.runs import Run
from ..app.saver import Saver
from ..app.session import KEEP_SECONDS, Session, Sessions
from ..app.store import RunStore, StoreError
from ..app.store.classes import ClassBook
from ..app.store.settings import data_home
from ..config import Budget, GANConfig
from ..data import DataError
from ..data import load as load_data

log = logging.getLogger(__name__)
SHUTDOWN_WAIT_SECONDS = 5.0  # how long a server shutdown waits for running jobs to end their step


TOKEN = "s"  # the address's query parameter that names the session (never put in share links)


def tab_alive(tab_id: str) -> bool:
    """Whether a browser tab (a Streamlit session) is still connected (True where no server runs: AppTest)."""
    if not tab_id or not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(tab_id) is not False


_stoppers: list = []  # what the server's stop closes, last made first
_stoppers_lock = threading.Lock()


def _at_stop(close) -> None:
    with _stoppers_lock:
        _stoppers.append(close)


def stop() -> None:
    """The server's stop: end every job between two steps (the backend waits up to SHUTDOWN_WAIT_SECONDS for them),
    then save what they left (the run store's writer). The server's lifespan calls it: uvicorn, which serves the
    app, ends the process by raising SIGTERM again once it has shut down, and atexit handlers do not run then.
    atexit calls it too, for a process that ends otherwise; a second call finds nothing left to close."""
    while True:
        with _stoppers_lock:
            if not _stoppers:
                return
            close = _stoppers.pop()
        try:
            close()
        except Exception:  # the others must still close
            log.exception("closing a service at the server's stop failed")


atexit.register(stop)


@st.cache_resource(show_spinner=False)
def saver() -> Saver:
    """The run store (GAN_EXPLORER_DATABASE_URL; by default a SQLite file in GAN_EXPLORER_HOME) and the thread that
    writes every session's runs to it. Opened when the server serves its first page; runs still marked as training
    there (not written for a minute: other replicas' go on) were cut off by the last stop or crash. StoreError
    (not cached: the next page tries again) when the store cannot be used."""
    store = RunStore.open()
    store.mark_interrupted(idle_seconds=60)
    made = Saver(store, lambda: sessions().all())
    _at_stop(made.close)  # before the backend's close, so it runs after it (last in, first out)
    return made


@st.cache_resource(show_spinner=False)
def classes() -> Classes:
    """The classes kept in the run store (explorer.app.classes), with this server's limit on them."""
    return Classes.from_env(ClassBook(saver().store))


@st.cache_resource(show_spinner=False)
def board_grids() -> Grids:
    """The boards' gallery thumbnails, shared by every viewer of every class on this server: each encoded once per
    step."""
    return Grids(classes().book, GALLERY)


@st.cache_resource(show_spinner=False)
def wall_grids() -> Grids:
    """The same for presenter mode's wall (a 4x4 of each grid), encoded only while a board is presented."""
    return Grids(classes().book, WALL)


@st.cache_resource(show_spinner=False)
def sweeps():
    """The server's sweeps (the Sweep page: explorer.app.sweep_runs.SweepRuns), one per session token; stopped at the
    server's stop, before the backend closes (last in, first out: it is made after the backend). Imported here, on
    the Sweep page's first use: Optuna's import would add a second to every server's start."""
    from ..app.sweep_runs import SweepRuns

    made = SweepRuns()
    _at_stop(made.stop_all)
    return made


@st.cache_resource(show_spinner=False)
def settings_problems() -> tuple[str, ...]:
    """What is wrong with this server's GAN_EXPLORER_* settings (explorer.app.server_settings), read once: a
    server's environment does not change while it runs."""
    return tuple(server_settings.problems())


def startup_problems() -> list[str]:
    """Why this server cannot train, one sentence each, or []: its settings, else the run store, else the job
    backend (a Ray cluster it cannot join). Nothing trains or is kept until they are fixed."""
    if found := list(settings_problems()):
        return found
    try:
        registry()  # the run store first, then the backend
    except (StoreError, BackendUnavailable) as e:
        return [str(e)]
    return []


@st.cache_resource(show_spinner=False)
def sessions() -> Sessions:
    """The server's sessions by token; one is kept GAN_EXPLORER_SESSION_KEEP seconds (default 1800) after its
    last tab closed, so a student who comes back finds the run. One this server does not hold (it restarted) is
    brought back from the run store."""
    keep = env_number(os.environ, "GAN_EXPLORER_SESSION_KEEP", KEEP_SECONDS, float, 0.0)
    return Sessions(is_active=tab_alive, keep_seconds=keep, restore=lambda token: saver().restore(token))


@st.cache_resource(show_spinner=False)
def registry() -> Backend:
    """The process-wide job backend (threads, or a Ray cluster with GAN_EXPLORER_RAY_ADDRESS); its limits come from
    the GAN_EXPLORER_* environment variables. A job trains while a tab shows its session (the session's token is
    the job's owner). The run store comes first: a server that cannot keep runs trains none (StoreError)."""
    writer = saver()
    made = backends.from_env(is_alive=lambda token: sessions().alive(token))
    writer.book_nets = made.kept.book_nets  # runs brought back from the store count in admission again
    # At server shutdown, end each job between steps rather than killing its thread mid-step with the process.
    _at_stop(lambda: made.close(wait=SHUTDOWN_WAIT_SECONDS))
    # Only then, in the background, load what the quality meter needs, so a first reading need not wait for it:
    # no thread should run torch ops while the thread count changes.
    # Not a daemon: the interpreter waits for it (a second or two) at exit. A daemon thread killed inside torch
    # at exit aborts the process ("terminate called without an active exception", exit status 134).
    # The real digits' features are kept in the data folder, so a restarted server reads them back.
    metrics.keep_real_features_in(data_home() / "cache")
    threading.Thread(target=_warm_meter, args=(made.limits.torch_threads,), name="gan-meter-warmup",
                     daemon=False).start()
    return made


def _warm_meter(threads: int) -> None:
    # At the lowest CPU priority (Linux gives each thread its own): it runs while the first students' pages are
    # drawn, which it slowed by about 0.6 s on a 2-core machine. Its pool threads, made by it, inherit the priority.
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.setpriority (Windows)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    torch.set_num_threads(threads)  # OpenMP keeps its thread count per thread
    try:
        quality.warm()
    except Exception:  # the meter reports its own errors when a run starts
        log.exception("quality meter warm-up failed")


def tab_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def session() -> Session:
    """This tab's session: the one the address's token names, or a new one; the address then carries its token."""
    ss = st.session_state
    if "gan_session" not in ss:
        token = st.query_params.get(TOKEN, "")
        try:
            found = sessions().find(token, tab_id()) if token else None
        except StoreError as e:  # the store cannot say now: a fresh session, and the reason on the page
            log.warning("a session could not be brought back from the run store: %s", e)
            ss.session_notes = [f"Your earlier session could not be read from the run store ({e}). This is a fresh "
                                f"start; reload this page later to try again."]
            found = None
            token = ""
        ss.session_gone = bool(token) and found is None
        ss.gan_session = found or sessions().new(tab_id())
    token = ss.gan_session.token
    if st.query_params.get(TOKEN) != token:  # page switches drop query parameters: put it back
        st.query_params[TOKEN] = token
    return ss.gan_session


def say_if_gone() -> None:
    """Once, on the first page after a reload whose session the server no longer has: say so plainly. Likewise what
    the run store could not bring back; and, while it lasts, that progress is not being saved, or that the job
    backend cannot train (its Ray cluster went away)."""
    if st.session_state.pop("session_gone", False):
        days = saver().store.settings.keep_days
        st.warning(f"Your earlier session is no longer on this server, so its runs are gone: runs are kept "
                   f"{days:g} days after their last change (GAN_EXPLORER_KEEP_DAYS), and the oldest go first when "
                   f"the store is full. This is a fresh start.", icon=":material/history:")
    notes = st.session_state.pop("session_notes", []) + session().notes
    session().notes = []
    st.session_state.notes_shown = notes  # for rerun_keeping_notes
    for note in notes:
        st.warning(note, icon=":material/history:")
    if problem := saver().problem:
        st.warning(f"Your progress is not being saved right now: {problem}. Training goes on, and what it does is "
                   f"saved as soon as the run store answers again.", icon=":material/cloud_off:")
    if problem := registry().problem:  # a Ray cluster that went away: no run trains until it is back
        st.error(problem, icon=":material/cloud_off:")


def rerun_keeping_notes() -> None:
    """st.rerun, and the notes this run showed (say_if_gone) are shown again: a rerun clears the page they were on."""
    session().notes[:0] = st.session_state.pop("notes_shown", [])
    st.rerun()


# ---- the session's job ---------------------------------------------------------------------
def job() -> Job | None:
    return session().job


def start_job(cfg: GANConfig, budget: Budget, lesson: str = "", fix_of: str = "") -> Job:
    """Check the setup and queue it as this session's job. Raises ConfigError/DataError naming the problem."""
    new = session().start(registry(), cfg, budget, lesson, fix_of)
    if session().classroom is not None:  # on the class's board now, and its switch on the page at once
        saver().save_session_now(session())
    st.session_state.update({f"live_{k}": v for k, v in new.view().settings.items()})
    st.session_state.pop("live_error", None)  # a message about the last run's live change
    return new


def reset_job() -> None:
    session().reset_job()


# ---- runs and the current model ------------------------------------------------------------
def runs() -> list[Run]:
    return session().runs


def current_run(nets: bool = True) -> Run | None:
    """The generator the latent pages explore: the last finished run, or one picked on the Runs page. With `nets`
    (a page that draws with it), nets that went back to the run store are read again here, and a run whose nets the
    store can no longer give is named and forgotten; without, only its name and settings are asked for."""
    while nets and (run := session().current) is not None and not run.in_memory:
        try:
            run.G  # noqa: B018 (reads the nets back)
            break
        except StoreError as e:
            log.warning("a run could not be brought back from the run store: %s", e)
            session().notes.append(f"{run.name} could not be brought back from the run store, so it is gone from "
                                   f"your runs: {e}.")
            session().drop(run)
            st.rerun()  # the page again, from the top: it says so (say_if_gone) and draws with what is left
    return session().current


def add_run(run: Run, make_current: bool = True) -> None:
    session().add_run(run, make_current)


def set_current(run: Run) -> None:
    session().set_current(run)


def offered() -> Run | None:
    """A run that finished while the student explored another model: offered on the latent pages, not imposed."""
    offer = session().offer
    return offer if offer is not None and offer is not session().current else None


def sync() -> None:
    """Once the session's job has ended, its generator becomes the current model (on every full rerun)."""
    session().sync()


def default_data_description() -> str:
    try:
        return load_data().description
    except DataError as e:
        return f"no data: {e}"
