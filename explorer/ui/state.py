"""A browser session's GAN Explorer state in `st.session_state`, and the server's job backend.

Per session: one `explorer.app.session.Session` (its job, its runs, the current run). Per process: one
job backend (`registry()`), shared by every session through `st.cache_resource`.
"""

from __future__ import annotations

import atexit
import logging
import threading

import streamlit as st
import torch
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from .. import quality
from ..app import backends
from ..app.jobs import Backend, Job
from ..app.runs import Run
from ..app.session import Session
from ..config import Budget, GANConfig
from ..data import DataError
from ..data import load as load_data

log = logging.getLogger(__name__)
SHUTDOWN_WAIT_SECONDS = 5.0  # how long a server shutdown waits for running jobs to end their step


def session_alive(session_id: str) -> bool:
    """Whether the browser session is still connected (True where no server runs, as under AppTest)."""
    if not session_id or not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(session_id) is not False


@st.cache_resource(show_spinner=False)
def registry() -> Backend:
    """The process-wide job backend; its limits come from the GAN_EXPLORER_* environment variables."""
    made = backends.from_env(is_alive=session_alive)  # threads, or a Ray cluster (GAN_EXPLORER_RAY_ADDRESS)
    # At server shutdown, end each job between steps rather than killing its thread mid-step with the process.
    atexit.register(made.close, wait=SHUTDOWN_WAIT_SECONDS)
    # Only then, in the background, load what the quality meter needs, so a first reading need not wait for it:
    # no thread should run torch ops while the thread count changes.
    # Not a daemon: the interpreter waits for it (a second or two) at exit. A daemon thread killed inside torch
    # at exit aborts the process ("terminate called without an active exception", exit status 134).
    threading.Thread(target=_warm_meter, args=(made.limits.torch_threads,), name="gan-meter-warmup",
                     daemon=False).start()
    return made


def _warm_meter(threads: int) -> None:
    torch.set_num_threads(threads)  # OpenMP keeps its thread count per thread
    try:
        quality.warm()
    except Exception:  # the meter reports its own errors when a run starts
        log.exception("quality meter warm-up failed")


def session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def session() -> Session:
    if "gan_session" not in st.session_state:
        st.session_state.gan_session = Session(session_id())
    return st.session_state.gan_session


# ---- the session's job ---------------------------------------------------------------------
def job() -> Job | None:
    return session().job


def start_job(cfg: GANConfig, budget: Budget, lesson: str = "", fix_of: str = "") -> Job:
    """Check the setup and queue it as this session's job. Raises ConfigError/DataError naming the problem."""
    new = session().start(registry(), cfg, budget, lesson, fix_of)
    st.session_state.update({f"live_{k}": v for k, v in new.view().settings.items()})
    st.session_state.pop("live_error", None)  # a message about the last run's live change
    return new


def reset_job() -> None:
    session().reset_job()


# ---- runs and the current model ------------------------------------------------------------
def runs() -> list[Run]:
    return session().runs


def current_run() -> Run | None:
    """The generator the latent pages explore: the last finished run, or one picked on the Runs page."""
    return session().current


def add_run(run: Run, make_current: bool = True) -> None:
    session().add_run(run, make_current)


def set_current(run: Run) -> None:
    session().set_current(run)


def sync() -> None:
    """Once the session's job has ended, its generator becomes the current model (on every full rerun)."""
    session().sync()


def default_data_description() -> str:
    try:
        return load_data().description
    except DataError as e:
        return f"no data: {e}"
