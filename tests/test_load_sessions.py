"""A classroom on one server: ten browser sessions train at once against a real `streamlit run` (loopback only).

Each session trains a small GAN on its own digit. With two training slots, eight wait visibly in the queue;
every run finishes; each session's sidebar shows its own digit's generator, never another's; the server's
peak memory is reported and bounded; and a closed tab's job is stopped, which another session sees in the
sidebar's count of busy training slots. Bounded in time (DEADLINE); the figures print and land in
test-output/browser/load.json.

What it caught: Streamlit's default full garbage collection after every script run (0.4 s with torch loaded,
all of it holding the GIL) let ten sessions' sidebar polls starve the training threads completely; the app's
.streamlit/config.toml turns it off.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from browser_support import StreamlitServer, output_dir, wait_for_app, wait_until
from conftest import LOCAL_ONLY

pytestmark = pytest.mark.browser

SESSIONS = 10
DEADLINE = 240.0
SMALL = "preset=default&g_layers=32&d_layers=32&batch_size=16&latent_dim=8&snapshot_every=50"
STATUS = re.compile(r"Status:\s*(running|paused|finished|stopped|diverged|collapsed|failed|queued \(position \d+\))")
MEMORY_LIMIT_MB = 4096


def status(page) -> str:
    line = page.get_by_test_id("stMain").locator("p").filter(has_text="Status:")
    m = STATUS.search(line.first.inner_text()) if line.count() else None
    return m.group(1) if m else ""


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024


def sidebar_text(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def slots_line(page) -> str:
    line = page.get_by_test_id("stSidebar").get_by_text(re.compile(r"Server: \d+ of \d+ training slots busy"))
    return line.first.inner_text() if line.count() else ""


def test_ten_sessions_train_at_once_in_isolation(chromium_browser):
    env = {"GAN_EXPLORER_MAX_JOBS": "2", "GAN_EXPLORER_SESSION_GRACE": "3", "GAN_EXPLORER_MAX_RUN_SECONDS": "300"}
    with StreamlitServer(log_path=output_dir() / "load-streamlit.log", env=env) as server:
        started = time.monotonic()
        contexts, pages = [], []
        for digit in range(SESSIONS):
            context = chromium_browser.new_context(viewport={"width": 1200, "height": 900})
            context.route(LOCAL_ONLY, lambda route: route.abort())
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(server.url(f"/train?{SMALL}&digits={digit}&steps=400"))
            contexts.append(context)
            pages.append(page)
        for page in pages:
            wait_for_app(page, timeout=120)
        for page in pages:  # as close together as a class pressing Start
            page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training").click()
        seen: list[set[str]] = [set() for _ in pages]

        def every_status_seen() -> bool:  # all pages in turn, each round: a slow page holds up no other's reading
            for i, page in enumerate(pages):
                if not seen[i] - {""}:
                    seen[i].add(status(page))
            return all(s - {""} for s in seen)

        # Each sees its run start or its place in the queue, then browses on (like a class reading the Home page
        # while it waits; it also spares this 2-core machine ten tabs of live charts).
        wait_until(every_status_seen, 60, "every run's status line", every=0.1)
        for page in pages:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()

        def job_line(page) -> str:
            m = re.search(r"Run 1: (running|paused|queued \(position \d+\))", sidebar_text(page))
            return m.group(1) if m else ""

        def finished(digit: int, page) -> bool:
            text = sidebar_text(page)
            return not job_line(page) and re.search(rf"digits {digit}\b", text) is not None

        def all_finished():
            for i, page in enumerate(pages):
                seen[i].add(job_line(page))
            return all(finished(d, p) for d, p in enumerate(pages))

        try:
            left = DEADLINE - (time.monotonic() - started)
            wait_until(all_finished, left, "every session's run to finish", every=1.0)
        except AssertionError:
            for i, page in enumerate(pages):
                page.screenshot(path=str(output_dir() / f"load-session-{i}.png"))
            raise AssertionError(f"not every run finished: job lines now {[job_line(p) for p in pages]}, "
                                 f"seen {seen}") from None
        queued = sum(any(s.startswith("queued") for s in statuses) for statuses in seen)
        all_done = time.monotonic() - started
        for digit, page in enumerate(pages):  # each session holds its own generator, and only that
            text = sidebar_text(page)
            others = [d for d in range(SESSIONS) if d != digit and re.search(rf"digits {d}\b", text)]
            assert not others, f"session {digit} shows another session's generator: digits {others}"
        assert queued >= SESSIONS // 2, f"with two slots most runs should have waited visibly in the queue; {seen}"

        # ---- closing a tab stops its job ---------------------------------------------------------------
        keep, leave = pages[0], pages[1]
        for page in (keep, leave):
            page.goto(server.url(f"/train?{SMALL}&digits=5&steps=1000000"))
            wait_for_app(page, timeout=60)
            page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training").click()
            wait_until(lambda p=page: status(p) == "running", 60, "a long run to start")
        # The Home page's sidebar counts the server's busy slots (a link, not goto: a reload is a new session)
        keep.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
        wait_until(lambda: slots_line(keep).startswith("Server: 2 of 2"), 30, "both slots busy")
        closed_at = time.monotonic()
        contexts[1].close()
        wait_until(lambda: slots_line(keep).startswith("Server: 1 of 2"), 30, "the closed tab's job to stop")
        stop_seconds = time.monotonic() - closed_at
        peak = peak_rss_mb(server.proc.pid)
        report = {"sessions": SESSIONS, "slots": 2, "all_finished_seconds": round(all_done, 1),
                  "sessions_that_waited_in_the_queue": queued,
                  "closed_tab_stopped_after_seconds": round(stop_seconds, 1),
                  "server_peak_rss_mb": round(peak)}
        (output_dir() / "load.json").write_text(json.dumps(report, indent=2))
        print(report)
        assert peak < MEMORY_LIMIT_MB, f"the server peaked at {peak:.0f} MB"
        for context in contexts[:1] + contexts[2:]:
            context.close()
