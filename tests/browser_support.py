"""Shared plumbing for the real-browser tests: a Streamlit server on a free loopback port and headless Chromium.

Tests normally use the fixtures in tests/conftest.py (`streamlit_server`, `chromium_browser`, `app_page`);
the pieces work on their own too:

    with StreamlitServer(log_path=output_dir() / "streamlit.log") as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page()
        page.goto(server.url("/train?preset=default"))
        wait_for_app(page)

Everything is bounded in time and bound to 127.0.0.1. The browser is Debian's `chromium` (Playwright's own
download does not work here); `require_chromium()` skips outside CI when it is missing and fails in CI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO_ROOT / "test-output" / "browser"
CHROMIUM_PATH = os.environ.get("GAN_EXPLORER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


def output_dir() -> Path:
    """The (git-ignored) folder for screenshots and logs, created on demand."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


def require_chromium() -> str:
    """The Chromium executable; fail the test in CI when it is missing, skip elsewhere."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the `playwright` Python package is not installed (pip install -r requirements-dev.txt)")
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        _missing(f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium, or set GAN_EXPLORER_CHROMIUM)")
    return CHROMIUM_PATH


def _missing(why: str) -> None:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"browser test cannot run in CI: {why}", pytrace=False)
    pytest.skip(why)


def launch_chromium(playwright, **kwargs):
    """Headless Debian Chromium with the flags this sandbox needs; extra kwargs go to `chromium.launch`."""
    options = dict(executable_path=require_chromium(), headless=True, args=list(CHROMIUM_ARGS), timeout=60_000)
    options.update(kwargs)
    return playwright.chromium.launch(**options)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """The app's server (plain `streamlit run streamlit_app.py`, as ./dev app and every Streamlit host start it)
    as a subprocess on a free loopback port, healthy on enter, stopped on exit.

    The server's stdout and stderr go to `log_path`; `log_tail()` returns the end of it for error messages.
    Environment overrides (e.g. thread counts) can be passed as `env`.
    """

    def __init__(self, *, port: int | None = None, log_path: Path | None = None,
                 startup_timeout: float = 60.0, extra_args: list[str] | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else output_dir() / "streamlit.log"
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
            "--server.headless", "true",
            "--server.port", str(self.port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            # Other people edit the sources while tests run: no watcher, no "source changed" reruns.
            "--server.fileWatcherType", "none",
            "--server.runOnSave", "false",
            *self.extra_args,
        ]

    def start(self) -> StreamlitServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w", buffering=1)  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = self.url("/_stcore/health")
        last_error = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode} before it was healthy:\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(health, timeout=2) as r:
                    body = r.read().decode(errors="replace").strip()
                if r.status == 200 and body == "ok":
                    return
                last_error = f"HTTP {r.status}: {body!r}"
            except (urllib.error.URLError, OSError) as e:
                last_error = str(e)
            time.sleep(0.25)
        raise TimeoutError(f"streamlit not healthy at {health} after {self.startup_timeout:.0f}s ({last_error}):\n"
                           + self.log_tail())

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server (its own process group), then kill it if it does not go."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- page helpers -------------------------------------------------------------------------------------------

def wait_for_app(page, timeout: float = 60.0, quiet: float = 0.75) -> None:
    """Wait until Streamlit is connected and idle: no script run, no skeletons, for `quiet` seconds in a row.

    Pages with a live fragment (run_every) never stay idle for long; use `wait_until` on what you need there.
    """
    page.get_by_test_id("stApp").wait_for(state="attached", timeout=timeout * 1000)
    js = """() => {
        const app = document.querySelector('[data-testid="stApp"]');
        if (!app) return 'no app';
        const script = app.getAttribute('data-test-script-state');
        const conn = app.getAttribute('data-test-connection-state');
        if (conn && conn !== 'CONNECTED') return 'connection ' + conn;
        if (script !== 'notRunning') return 'script ' + script;
        if (document.querySelector('[data-testid="stSkeleton"]')) return 'skeleton';
        return '';
    }"""
    deadline = time.monotonic() + timeout
    idle_since = None
    busy = "?"
    while time.monotonic() < deadline:
        busy = page.evaluate(js)
        if busy:
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the Streamlit app did not settle within {timeout:.0f}s (last: {busy})")


def wait_until(predicate, timeout: float, what: str, every: float = 0.25):
    """Poll `predicate()` until it returns something truthy (returned) or `timeout` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")
        time.sleep(every)


def assert_no_exception(page, where: str) -> None:
    """Fail with the traceback text if the page shows a Streamlit exception box."""
    boxes = page.get_by_test_id("stException")
    if boxes.count():
        raise AssertionError(f"{where}: the page shows an exception:\n{boxes.first.inner_text()[:3000]}")


def screenshot(page, name: str) -> Path:
    """Save `<name>.png` in the test-output folder and return its path."""
    path = output_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
