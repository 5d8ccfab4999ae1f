"""A session's GAN Explorer state in `st.session_state`, and the server's job registry.

Per session: the training job (`job()`), the finished and uploaded runs (`runs()`), and the current
run whose generator the latent pages explore (`current_run()`). Per process: one `JobRegistry`
(`registry()`), shared by every session through `st.cache_resource`.
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
from ..config import GANConfig
from ..data import DataError
from ..data import load as load_data
from ..training import Budget, Trainer
from .jobs import Job, JobRegistry, Limits
from .runs import Run

log = logging.getLogger(__name__)
MAX_RUNS = 6  # runs kept per session; each holds a generator and a discriminator in memory
SHUTDOWN_WAIT_SECONDS = 5.0  # how long a server shutdown waits for running jobs to end their step


def session_alive(session_id: str) -> bool:
    """Whether the browser session is still connected (True where no server runs, as under AppTest)."""
    if not session_id or not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(session_id) is not False


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """The process-wide registry; its limits come from the GAN_EXPLORER_* environment variables."""
    made = JobRegistry(Limits.from_env(), is_alive=session_alive)  # sets torch's thread count for the process
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


# ---- the session's job ---------------------------------------------------------------------
def job() -> Job | None:
    return st.session_state.get("job")


def start_job(cfg: GANConfig, budget: Budget, lesson: str = "", fix_of: str = "") -> Job:
    """Build a trainer for `cfg` now (so errors surface at once) and queue it. Raises ConfigError/DataError.

    `lesson` names the failure-mode lesson the run shows; `fix_of`, the run whose fix it tries."""
    trainer = Trainer(cfg, load_data(cfg.data), measure=True)
    reset_job()  # one job per session
    st.session_state.run_counter = st.session_state.get("run_counter", 0) + 1
    suffix = " (the fix)" if fix_of else ""
    new = Job(trainer, budget, session_id(), name=f"Run {st.session_state.run_counter}{suffix}", lesson=lesson,
              fix_of=fix_of)
    st.session_state.job = new
    st.session_state.adopted = False
    st.session_state.update({f"live_{k}": v for k, v in trainer.state(with_history=False).settings.items()})
    st.session_state.pop("live_error", None)  # a message about the last run's live change
    return registry().submit(new)


def reset_job() -> None:
    current = job()
    if current is not None:
        current.stop()
    st.session_state.pop("job", None)


# ---- runs and the current model ------------------------------------------------------------
def runs() -> list[Run]:
    return st.session_state.setdefault("runs", [])


def current_run() -> Run | None:
    """The generator the latent pages explore: the last finished run, or one picked on the Runs page."""
    return st.session_state.get("current_run")


def add_run(run: Run, make_current: bool = True) -> None:
    kept = [r for r in runs() if r is not run][-(MAX_RUNS - 1):]
    st.session_state.runs = [*kept, run]
    if make_current or current_run() not in st.session_state.runs:
        st.session_state.current_run = run


def set_current(run: Run) -> None:
    st.session_state.current_run = run


def sync() -> None:
    """Once the session's job has ended, its generator becomes the current model (on every full rerun)."""
    current = job()
    if current is None or not current.done or st.session_state.get("adopted"):
        return
    st.session_state.adopted = True
    if current.trainer.step_count > 0:
        add_run(Run.from_job(current))


def default_data_description() -> str:
    try:
        return load_data().description
    except DataError as e:
        return f"no data: {e}"
