"""Driving the app through Streamlit's AppTest: open a page, read the live status line, rerun until it says
something, press buttons, and reach the session's GAN Explorer state (explorer.app.session.Session).

AppTest does not run fragments on a timer, so tests rerun the app until the status line says what they wait
for. Training happens in real worker threads of the process-wide backend (the `roomy_registry` fixture).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer.app.session import Session

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
PAGES = ["pages/home.py", "pages/train.py", "pages/latent.py", "pages/interpolation.py", "pages/runs.py",
         "pages/sweep.py", "pages/board.py"]
TINY = {"preset": "default", "digits": "3", "steps": "30", "g_layers": "32", "d_layers": "32", "batch_size": "16",
        "latent_dim": "8", "snapshot_every": "10"}


def app(page: str | None = None, timeout: float = 60, **params) -> AppTest:
    """A fresh tab that opens `page` with these query parameters first, as a browser opening the address."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.query_params.update(params)
    if page:
        at.switch_page(page)  # before the first run: the page's file name is its url path here
    return at.run()


def close_services() -> None:
    """Close the app's process-wide services as a server's stop does (the backend, then the run store's writer, which
    saves what the backend's stop left), and forget them: the next test module makes its own."""
    from explorer.ui import state

    state.stop()  # as the server's lifespan does at its stop
    state.registry.clear()
    state.saver.clear()
    state.sessions.clear()
    state.settings_problems.clear()
    state.classes.clear()  # they hold the run store just closed
    state.board_grids.clear()
    state.wall_grids.clear()
    state.sweeps.clear()


@contextlib.contextmanager
def registry_with(monkeypatch, **env):
    """The app's process-wide services (explorer.ui.state: the backend, the run store's writer, the sessions) made
    anew under `env` for one test, and closed after it. Those before are closed first: clearing the caches alone
    would leave their threads running."""
    from explorer.ui import state

    close_services()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        yield state.registry()
    finally:
        close_services()  # the next test's are made under its own environment


def session(at: AppTest) -> Session:
    """The page session's GAN Explorer state: its job, runs and current run."""
    return at.session_state["gan_session"]


def status(at: AppTest) -> str:
    lines = [m.value for m in at.main.markdown if "Status:" in m.value]
    return lines[0] if lines else ""


def rerun_until(at: AppTest, word: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while word not in status(at):
        assert time.monotonic() < deadline, f"status never said {word!r}; last: {status(at)!r}"
        time.sleep(0.2)
        at.run()
    return status(at)


def wait_for_steps(at: AppTest, timeout: float = 30) -> None:
    """Until the session's job has trained a step (its first quality reading comes before that)."""
    job, deadline = session(at).job, time.monotonic() + timeout
    while job.progress().step == 0:
        assert time.monotonic() < deadline, "the job never trained a step"
        time.sleep(0.05)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def start(at: AppTest) -> AppTest:
    return button(at, "Start training").click().run()


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)
