"""Real-process tests of the run store (issue 22): runs outlive the app server, and replicas share them.

- `kill -9` on SQLite: the app runs as `./dev app` starts it (`streamlit run streamlit_app.py`) on a fresh data folder.
  Headless Chromium trains a tiny run to its end, then starts a long one and lets it train past its first weights
  copy; the server's process group is killed with SIGKILL. A new server on the same data folder, opened at the same
  `?s=` link, shows the long run "Stopped by a server restart at step N" with its charts and "Continue training
  from step M"; the finished run's samples on the Runs page are the same pixels as before; Continue trains on past
  M. Screenshots: restart-1-before-kill, restart-2-after-restart, restart-3-runs-after-restart,
  restart-4-after-continue (test-output/browser/), and the servers' logs restart-server-{a,b}.log.
- Two app servers on one PostgreSQL database: a run that finished on server A is found by server B at A's `?s=`
  link (the Runs page lists it, the sidebar's current generator names it). Screenshot: postgres-server-b.png.

Fixtures: tests/conftest.py (`chromium_browser`, `postgres_server`); helpers: tests/browser_support.py and
tests/test_browser.py. Needs Debian's Chromium (and PostgreSQL for the second test): skipped without them, except in
CI, where they fail.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import time
import urllib.request
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from browser_support import (
    StreamlitServer,
    assert_no_exception,
    output_dir,
    require_chromium,
    screenshot,
    wait_for_app,
    wait_until,
)
from conftest import SERVER_ENV, watched_page
from PIL import Image
from test_browser import button, loss_chart, status_line, wait_status

pytestmark = pytest.mark.browser

# Tiny nets (as tests/apptest_support.TINY): a run of 60 steps ends in seconds; the long one is ended by the test.
TINY = {"preset": "default", "digits": "3", "g_layers": "32", "d_layers": "32", "batch_size": "16", "latent_dim": "8",
        "snapshot_every": "10"}
SHORT = {**TINY, "steps": "60"}
LONG = {**TINY, "steps": "100000"}
# The job copies its weights 10 s into a run (explorer.app.threads.FIRST_WEIGHTS_SECONDS) and the saver writes what
# there is every 2 s: this long after "running", the store holds weights to go on from, with room for a busy machine.
TRAIN_BEFORE_KILL_SECONDS = 20.0
ENV = {**SERVER_ENV, "GAN_EXPLORER_MAX_RUN_SECONDS": "180", "GAN_EXPLORER_SESSION_GRACE": "30"}
GO_ON_STEPS = 50  # what Continue must train past its starting step, on the chart
ENDED = ("finished", "stopped", "diverged", "collapsed", "failed")
CONTINUE = re.compile(r"Continue training from step ([\d,]+)")
RESTARTED = re.compile(r"Stopped by a server restart at step ([\d,]+)")

# The Runs page's cards: each "samples" image with the name in its card's heading (### Run 1  · current).
JS_RUN_PREVIEWS = """() => {
    const found = [];
    for (const el of document.querySelectorAll('[data-testid="stImage"]')) {
        const cap = el.querySelector('[data-testid="stImageCaption"]');
        const img = el.querySelector('img');
        if (!cap || !img || cap.innerText.trim() !== 'samples') continue;
        let card = el.parentElement;
        while (card && !card.querySelector('h3')) card = card.parentElement;
        const head = card ? card.querySelector('h3') : null;
        found.push({name: head ? head.innerText.trim() : '', src: img.getAttribute('src'),
                    loaded: img.complete && img.naturalWidth > 0});
    }
    return found;
}"""


def number(text: str) -> int:
    return int(text.replace(",", ""))


def wait_running_or_fail(page, run: str, timeout: float) -> None:
    """Wait until the status line is `run`'s (not the last run's, still shown until the page reruns) and it trains."""
    wait_until(lambda: status_line(page).startswith(f"{run} "), timeout, f"{run}'s status line")
    now = wait_status(page, ("running", *ENDED), timeout)
    assert now == "running", f"the run ended before it could be watched: {status_line(page)!r}"


def start_from_setup(page) -> None:
    """Press Start training (the Setup expander folds away once the session has a job: open it first)."""
    start = page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True)
    if not start.is_visible():
        page.get_by_test_id("stExpander").locator("summary").filter(has_text="Setup").first.click()
        start.wait_for(state="visible", timeout=30_000)
    start.click()


def token_of(url: str) -> str:
    found = re.search(r"[?&]s=([\w-]+)", url)
    assert found, f"the address should carry the session's token: {url}"
    return found.group(1)


def moved_to(server: StreamlitServer, url: str) -> str:
    """The same path and query (the `?s=` link) on another server."""
    parts = urlsplit(url)
    return server.url(parts.path + (f"?{parts.query}" if parts.query else ""))


def previews(page) -> dict[str, str]:
    """Run name -> its preview's address, once every preview on the Runs page has loaded."""
    shown = page.evaluate(JS_RUN_PREVIEWS)
    if not shown or not all(p["loaded"] for p in shown):
        return {}
    return {re.sub(r"\s*·\s*current$", "", p["name"]): p["src"] for p in shown}


def pixels(page, src: str) -> tuple[bytes, tuple[int, int], bytes]:
    """The image at `src` (as the page addresses it): its file's bytes, size, and decoded RGB pixels."""
    with urllib.request.urlopen(urljoin(page.url, src), timeout=30) as r:
        data = r.read()
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
        return data, rgb.size, rgb.tobytes()


def open_runs_page(page, url: str, wanted: str, timeout: float = 90) -> dict[str, str]:
    page.goto(url)
    wait_for_app(page, timeout=timeout)
    assert_no_exception(page, "Runs page")
    return wait_until(lambda: (p := previews(page)) and wanted in p and p, 60, f"{wanted}'s samples on the Runs page")


def restored_steps(page) -> tuple[int, int]:
    """On the Train page after a restart: the step of "Stopped by a server restart at step N" and of "Continue
    training from step M"."""
    main = page.get_by_test_id("stMain")
    said = wait_until(lambda: RESTARTED.search(main.inner_text()), 60, "'Stopped by a server restart at step N'")
    offer = wait_until(lambda: CONTINUE.search(main.inner_text()), 30, "'Continue training from step M'")
    return number(said.group(1)), number(offer.group(1))


def kill_9(server: StreamlitServer) -> None:
    """SIGKILL to the server's whole process group, as the OOM killer or a crash would end it; reaped."""
    pid = server.proc.pid
    os.killpg(pid, signal.SIGKILL)
    server.proc.wait(timeout=30)

    def group_gone() -> bool:  # nothing of the group may survive (its other members are reaped by init)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(group_gone, 15, f"the killed server's process group {pid} to be gone")
    server.stop()  # nothing left to stop: closes its log


@pytest.fixture
def browser_page(chromium_browser, request):
    """A watched page (conftest.watched_page) without the module's shared server: these tests start their own."""
    with watched_page(chromium_browser, request) as page:
        yield page


@pytest.fixture
def servers():
    """Start app servers with `servers(name, env)`; every one is stopped at the test's end, failures included."""
    started: list[StreamlitServer] = []

    def start(name: str, env: dict) -> StreamlitServer:
        require_chromium()
        server = StreamlitServer(log_path=output_dir() / f"{name}.log", env=env, startup_timeout=120)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired, OSError):
                server.stop(timeout=20)


def test_kill_9_loses_no_finished_run_and_the_interrupted_run_continues(browser_page, servers, tmp_path):
    page = browser_page
    env = {**ENV, "GAN_EXPLORER_HOME": str(tmp_path / "home")}
    for n in ("1-before-kill", "2-after-restart", "3-runs-after-restart", "4-after-continue"):
        (output_dir() / f"restart-{n}.png").unlink(missing_ok=True)
    started = time.monotonic()

    # ---- server A: a short run to its end, then a long one ------------------------------------------------------
    a = servers("restart-server-a", env)
    page.goto(a.url(f"/train?{urlencode(SHORT)}"))
    wait_for_app(page, timeout=120)  # the first page imports torch
    start_from_setup(page)
    assert wait_status(page, ENDED, 180) == "finished", f"the short run did not finish: {status_line(page)!r}"
    token = token_of(page.url)
    before = open_runs_page(page, a.url(f"/runs?s={token}"), "Run 1")
    assert list(before) == ["Run 1"], f"the Runs page should list the finished run only: {list(before)}"
    finished_file, finished_size, finished_pixels = pixels(page, before["Run 1"])

    page.goto(a.url(f"/train?{urlencode({'s': token, **LONG})}"))
    wait_for_app(page, timeout=60)
    start_from_setup(page)
    wait_running_or_fail(page, "Run 2", 90)
    running_since = time.monotonic()
    wait_until(lambda: (c := loss_chart(page)) and c["points"] > 0, 60, "the long run's loss chart")
    time.sleep(max(0.0, TRAIN_BEFORE_KILL_SECONDS - (time.monotonic() - running_since)))
    assert wait_status(page, ("running",), 5) == "running"
    link = page.url  # the same `?s=` link is opened on the new server
    assert token_of(link) == token
    killed_at = loss_chart(page)
    screenshot(page, "restart-1-before-kill")

    # ---- kill -9, and a new server on the same data folder -----------------------------------------------------
    kill_9(a)
    b = servers("restart-server-b", env)
    page.goto(moved_to(b, link))
    wait_for_app(page, timeout=120)
    assert_no_exception(page, "Train page after the restart")
    stopped_step, resume_step = restored_steps(page)
    chart = wait_until(lambda: (c := loss_chart(page)) and c["points"] > 0 and c, 30, "the restored loss chart")
    assert 0 < resume_step <= stopped_step, (
        f"the run was at step {killed_at['last_x']:g} on the chart at the kill; restored: stopped at {stopped_step}, "
        f"continue from {resume_step}")
    assert chart["last_x"] <= stopped_step, f"the restored chart goes past the saved step: {chart} > {stopped_step}"
    assert "Run 2" in status_line(page) and "stopped" in status_line(page), status_line(page)
    screenshot(page, "restart-2-after-restart")

    # ---- the finished run is whole: its samples are the same pixels --------------------------------------------
    after = open_runs_page(page, b.url(f"/runs?s={token}"), "Run 1")
    screenshot(page, "restart-3-runs-after-restart")
    file, size, restored_pixels = pixels(page, after["Run 1"])
    assert size == finished_size and restored_pixels == finished_pixels, (
        f"Run 1's samples changed across the restart ({finished_size} -> {size})")
    print(f"Run 1's preview after the restart: {'the same file' if file == finished_file else 'same pixels'} "
          f"({len(file)} bytes, {size[0]}x{size[1]}); runs listed: {list(after)}")

    # ---- Continue trains on from the last save -----------------------------------------------------------------
    page.goto(moved_to(b, link))
    wait_for_app(page, timeout=60)
    offer = page.get_by_test_id("stButton").get_by_role("button", name=CONTINUE)
    offer.wait_for(timeout=30_000)
    offer.click()
    wait_running_or_fail(page, "Run 3 (continues Run 2)", 90)
    went_on = wait_until(lambda: (c := loss_chart(page)) and c["last_x"] >= resume_step + GO_ON_STEPS and c, 90,
                         f"the continued run's chart to go {GO_ON_STEPS} steps past step {resume_step}")
    assert_no_exception(page, "Train page after Continue")
    screenshot(page, "restart-4-after-continue")
    button(page, "Stop").click()  # no need to train on until the server stops
    wait_status(page, ENDED, 60)
    print(f"killed at chart step {killed_at['last_x']:g} ({killed_at['points']} points); restored: stopped at step "
          f"{stopped_step}, chart to {chart['last_x']:g} ({chart['points']} points), continue from {resume_step}; "
          f"continued to step {went_on['last_x']:g}; {time.monotonic() - started:.0f} s")


def test_two_app_processes_on_one_postgresql_share_runs(browser_page, servers, postgres_server, tmp_path):
    page = browser_page
    url = postgres_server.new_database()
    env = {**ENV, "GAN_EXPLORER_DATABASE_URL": url}
    a = b = None
    try:
        a = servers("postgres-server-a", {**env, "GAN_EXPLORER_HOME": str(tmp_path / "home-a")})
        b = servers("postgres-server-b", {**env, "GAN_EXPLORER_HOME": str(tmp_path / "home-b")})

        page.goto(a.url(f"/train?{urlencode(SHORT)}"))
        wait_for_app(page, timeout=120)
        start_from_setup(page)
        assert wait_status(page, ENDED, 180) == "finished", f"the run did not finish on A: {status_line(page)!r}"
        token = token_of(page.url)
        on_a = open_runs_page(page, a.url(f"/runs?s={token}"), "Run 1")
        sample_a = pixels(page, on_a["Run 1"])[2]
        time.sleep(5)  # A's saver writes the session's runs every 2 s: B reads them from the store

        on_b = open_runs_page(page, b.url(f"/runs?s={token}"), "Run 1")
        assert list(on_b) == ["Run 1"], f"server B should list A's run: {list(on_b)}"
        assert pixels(page, on_b["Run 1"])[2] == sample_a, "server B shows other samples than A for the same run"
        sidebar = page.get_by_test_id("stSidebar")
        wait_until(lambda: re.search(r"Current generator\s+Run 1\b", sidebar.inner_text()), 30,
                   "B's sidebar to name Run 1 as the current generator")
        assert token_of(page.url) == token, "server B should keep A's session token"
        screenshot(page, "postgres-server-b")
    finally:
        for server in (a, b):  # before the database goes
            if server is not None:
                server.stop(timeout=20)
        postgres_server.drop_database(url)


def test_a_clean_stop_saves_the_running_jobs_last_step(browser_page, servers, tmp_path):
    """SIGTERM (a deploy, Ctrl-C): the server stops its job between two steps and saves it before it exits, so the
    restarted server continues from the very step it stopped at, not from the last half-minute copy."""
    page = browser_page
    env = {**ENV, "GAN_EXPLORER_HOME": str(tmp_path / "home")}
    a = servers("clean-stop-server-a", env)
    page.goto(a.url(f"/train?{urlencode(LONG)}"))
    wait_for_app(page, timeout=120)
    start_from_setup(page)
    wait_running_or_fail(page, "Run 1", 90)
    wait_until(lambda: (c := loss_chart(page)) and c["last_x"] >= 50, 60, "the run to train 50 steps")
    link = page.url
    a.stop(timeout=30)  # SIGTERM to its process group; it ends its job, saves, and exits by itself
    assert a.proc is None

    b = servers("clean-stop-server-b", env)
    page.goto(moved_to(b, link))
    wait_for_app(page, timeout=120)
    assert_no_exception(page, "Train page after a clean stop")
    stopped_step, resume_step = restored_steps(page)
    screenshot(page, "restart-5-after-a-clean-stop")
    assert resume_step == stopped_step > 50, (stopped_step, resume_step)
