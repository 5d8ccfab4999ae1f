"""Real-browser test: headless Chromium drives `streamlit run streamlit_app.py` through a short training run.

On the Train page it picks a digit, starts training, watches the loss chart gain points and the sample grid
change, pauses and resumes, stops the run and checks the status says so, then resets the page. Screenshots
(home, train-setup, train-running, train-stopped) and the server log land in test-output/browser/.
Fixtures: tests/conftest.py; helpers: tests/browser_support.py. Needs Debian's Chromium: skipped without it,
except in CI, where it fails.
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import assert_no_exception, output_dir, screenshot, wait_for_app, wait_until
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

DIGIT = "7"  # not the preset's digit (3), so picking it is a real change
# Long enough to outlive the checks on a slow machine: the test stops it itself.
TRAIN_URL = "/train?preset=default&digits=3&seconds=90"
SCREENSHOTS = ("home", "train-setup", "train-running", "train-step-mode", "train-stopped")
TEST_DEADLINE = 180.0  # seconds for the whole test, server start (at most 60 s) excluded

# Streamlit renders st.plotly_chart as a `.js-plotly-plot` div inside [data-testid=stPlotlyChart]; plotly.js keeps
# the figure on that div: `.data` as sent (numpy columns arrive as {dtype, bdata} objects, which plotly.js decodes
# into `x._inputArray`) and `._fullData` as drawn (x decoded to a typed array). Count what is drawn.
JS_FIRST_CHART = """() => {
    const el = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!el || !el.data) return null;
    const xs = (el._fullData || el.data).map(tr => {
        const x = tr.x;
        if (!x) return [];
        if (typeof x.length === 'number') return Array.from(x);
        return x._inputArray ? Array.from(x._inputArray) : [];
    });
    const t = el.layout && el.layout.title;
    return {title: typeof t === 'string' ? t : (t && t.text) || '',
            points: xs.reduce((n, x) => n + x.length, 0),
            last_x: Math.max(-1, ...xs.map(x => x.length ? Number(x[x.length - 1]) : -1))};
}"""
# The sample grid: the st.image whose caption starts with "Samples at step".
JS_SAMPLES = """() => {
    for (const el of document.querySelectorAll('[data-testid="stImage"]')) {
        const cap = el.querySelector('[data-testid="stImageCaption"]');
        const img = el.querySelector('img');
        if (cap && img && cap.innerText.trim().startsWith('Samples at step'))
            return {src: img.getAttribute('src'), caption: cap.innerText.trim(),
                    loaded: img.complete && img.naturalWidth > 0};
    }
    return null;
}"""
STATUS = re.compile(r"Status:\s*(running|paused|finished|stopped|diverged|collapsed|failed|queued \(position \d+\))")


def status_line(page) -> str:
    """The live view's status line ("Run 1 · Status: running"), or "" while it is not on the page."""
    line = page.get_by_test_id("stMain").locator("p").filter(has_text="Status:")
    try:  # the line can go between count() and inner_text() (Reset removes it): then it is gone
        return line.first.inner_text(timeout=2_000).strip() if line.count() else ""
    except PlaywrightTimeout:
        return ""


def status(page) -> str:
    """The status word ("running", "stopped", "queued (position 2)", ...), or ""."""
    m = STATUS.search(status_line(page))
    return m.group(1) if m else ""


def wait_status(page, wanted: tuple[str, ...], timeout: float) -> str:
    """Wait for one of the `wanted` statuses; on timeout, say what the status line showed."""
    deadline = time.monotonic() + timeout
    while (now := status(page)) not in wanted:
        if time.monotonic() >= deadline:
            raise AssertionError(f"status never became {' or '.join(wanted)} in {timeout:.0f}s; "
                                 f"the status line reads {status_line(page)!r}")
        time.sleep(0.25)
    return now


def button(page, label: str):
    """A plain st.button by its exact label (the live controls: Pause/Resume, Stop, Reset)."""
    return page.get_by_test_id("stButton").get_by_role("button", name=label, exact=True)


def settle_controls(page, label: str, timeout: float = 15.0) -> None:
    """Wait until the live control `label` (Pause or Resume) is there once and enabled."""
    def enabled() -> bool:
        try:  # the button can be redrawn between count() and is_enabled(): then ask again
            return button(page, label).count() == 1 and button(page, label).is_enabled(timeout=2_000)
        except PlaywrightTimeout:
            return False

    wait_until(enabled, timeout, f"the {label!r} button to be enabled")


def loss_chart(page) -> dict | None:
    return page.evaluate(JS_FIRST_CHART)


def samples(page) -> dict | None:
    return page.evaluate(JS_SAMPLES)


def test_train_start_watch_stop(app_page, streamlit_server):
    page, server = app_page, streamlit_server
    started = time.monotonic()
    for name in SCREENSHOTS:  # no stale pictures from an earlier run
        (output_dir() / f"{name}.png").unlink(missing_ok=True)

    def left(cap: float) -> float:
        """Seconds to wait for the next thing: at most `cap`, never past the test's deadline."""
        remaining = TEST_DEADLINE - (time.monotonic() - started)
        assert remaining > 0, f"the test ran past its {TEST_DEADLINE:.0f}s deadline"
        return min(cap, remaining)

    # ---- Home ------------------------------------------------------------------------------------------------
    page.goto(server.url("/"))
    wait_for_app(page, timeout=left(90))  # the first run imports torch
    page.get_by_role("heading", name="GAN Explorer").first.wait_for(timeout=left(30) * 1000)
    assert_no_exception(page, "Home")
    screenshot(page, "home")

    # ---- Train: setup, pick a digit --------------------------------------------------------------------------
    page.goto(server.url(TRAIN_URL))
    wait_for_app(page, timeout=left(60))
    assert_no_exception(page, "Train setup")
    digits = page.get_by_role("toolbar", name="Digits")  # st.pills("Digits"): role=toolbar, aria-label=Digits
    digits.wait_for(timeout=left(30) * 1000)
    assert digits.get_by_role("button", name="All", exact=True).count() == 1, "the Digits picker has no 'All' pill"
    pills = {d: digits.get_by_role("button", name=d, exact=True) for d in "0123456789"}
    assert all(p.count() == 1 for p in pills.values()), "the Digits picker should offer 0..9"
    assert pills["3"].get_attribute("aria-pressed") == "true", "the link's digits=3 is not selected"
    pills["3"].click()  # off
    pills[DIGIT].click()  # on
    wait_until(lambda: pills[DIGIT].get_attribute("aria-pressed") == "true"
               and pills["3"].get_attribute("aria-pressed") == "false", left(10), f"only digit {DIGIT} picked")
    screenshot(page, "train-setup")

    # ---- Start ------------------------------------------------------------------------------------------------
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    now = wait_status(page, ("running", "finished", "stopped", "diverged", "collapsed", "failed"), left(60))
    assert now == "running", f"the run ended before it could be watched: {status_line(page)!r}"
    assert re.search(rf"[?&]digits={DIGIT}(&|$)", page.url), f"the address bar should carry digits={DIGIT}: {page.url}"

    # ---- Watch: the loss chart gains points, the sample grid changes -----------------------------------------
    first = wait_until(lambda: loss_chart(page), left(60), "the loss chart")
    assert "loss" in first["title"].lower(), f"the first chart should be the loss chart, not {first['title']!r}"
    grid = wait_until(lambda: (s := samples(page)) and s["loaded"] and s, left(30), "the 'Samples at step' image")
    seen_srcs = {grid["src"]}
    seen_captions = {grid["caption"]}

    def progressed():
        now, s = loss_chart(page), samples(page)
        if s and s["loaded"]:
            seen_srcs.add(s["src"])
            seen_captions.add(s["caption"])
        grew = now is not None and now["points"] > first["points"] and now["last_x"] > first["last_x"]
        return grew and len(seen_srcs) >= 2 and len(seen_captions) >= 2 and now

    later = wait_until(progressed, left(45), "more loss points and a new sample grid")
    assert status(page) == "running", f"while training, the status line reads {status_line(page)!r}"
    assert_no_exception(page, "Train running")
    screenshot(page, "train-running")
    print(f"loss chart: {first['points']} -> {later['points']} points (last step {first['last_x']:g} -> "
          f"{later['last_x']:g}); {len(seen_srcs)} distinct sample grids: {sorted(seen_captions)}")

    # ---- F5: a reload finds the run again, still training --------------------------------------------------
    token = re.search(r"[?&]s=([\w-]+)", page.url)
    assert token, f"the address should carry the session's token: {page.url}"
    page.reload()
    wait_status(page, ("running",), left(60))
    wait_until(lambda: (c := loss_chart(page)) and c["last_x"] > later["last_x"], left(45),
               "the reloaded page to show the same run going on")
    assert f"s={token.group(1)}" in page.url and "Run 1" in status_line(page)

    # ---- Pause and resume ------------------------------------------------------------------------------------
    settle_controls(page, "Pause")
    button(page, "Pause").click()
    wait_status(page, ("paused",), left(30))
    settle_controls(page, "Resume")
    wait_for_app(page, timeout=left(30))  # the live view stops polling while paused
    paused_at = loss_chart(page)["last_x"]
    time.sleep(1.5)
    assert loss_chart(page)["last_x"] == paused_at, "the loss chart still moves while paused"

    # ---- Step mode, while paused: one G step is one more step on the chart, with the grid before and after ---
    button(page, "G step").click()
    page.get_by_text("Before the G step").first.wait_for(timeout=left(20) * 1000)
    wait_until(lambda: (c := loss_chart(page)) and c["last_x"] == paused_at + 1, left(20), "the G step on the chart")
    assert status(page) == "paused", f"a G step should leave the run paused: {status_line(page)!r}"
    screenshot(page, "train-step-mode")
    button(page, "Resume").click()
    wait_status(page, ("running",), left(30))
    wait_until(lambda: (c := loss_chart(page)) and c["last_x"] > paused_at + 1, left(30),
               "training to go on after Resume")
    settle_controls(page, "Pause")

    # ---- Stop -------------------------------------------------------------------------------------------------
    button(page, "Stop").click()
    wait_status(page, ("stopped",), left(30))
    wait_until(lambda: button(page, "Stop").is_disabled(), left(15), "the Stop button to be disabled once stopped")
    wait_for_app(page, timeout=left(30))  # no more polling once the run is over
    assert status(page) == "stopped"
    # The stopped run becomes the current generator; the sidebar names its digits.
    sidebar = page.get_by_test_id("stSidebar")
    wait_until(lambda: re.search(rf"digits {DIGIT}\b", sidebar.inner_text()), left(15),
               f"the sidebar's current generator to say 'digits {DIGIT}'")
    stopped = loss_chart(page)
    assert stopped is not None and stopped["last_x"] >= later["last_x"], "the loss chart is gone after Stop"
    time.sleep(2)
    assert loss_chart(page)["last_x"] == stopped["last_x"], "the loss chart still moves after Stop"
    assert_no_exception(page, "Train stopped")
    screenshot(page, "train-stopped")

    # ---- Reset clears the live view ----------------------------------------------------------------------------
    button(page, "Reset").click()
    wait_until(lambda: not status_line(page) and loss_chart(page) is None, left(30), "Reset to clear the live view")
    assert_no_exception(page, "Train after Reset")


def test_enter_in_a_setup_field_starts_nothing(app_page, streamlit_server):
    """A student who types a number and presses Enter has not asked to train (st.form's enter_to_submit=False)."""
    page = app_page
    page.goto(streamlit_server.url("/train?preset=default&digits=3&steps=40"))
    wait_for_app(page, timeout=90)
    field = page.get_by_test_id("stForm").get_by_test_id("stNumberInput").first.locator("input")
    field.click()
    field.fill("2")
    field.press("Enter")
    time.sleep(3)  # a start would have shown its status line by now
    wait_for_app(page, timeout=30)
    main = page.get_by_test_id("stMain").inner_text()
    assert "Status:" not in main and "Run 1" not in main, main[:500]
    assert page.get_by_role("button", name="Start training").first.is_visible()
    assert_no_exception(page, "Enter in the setup form")


def test_a_picture_renamed_to_a_checkpoint_is_named_as_a_picture(app_page, streamlit_server, tmp_path):
    """The Runs page's upload: a PNG saved as `.safetensors` is called a PNG picture, with where pictures go."""
    from PIL import Image

    picture = tmp_path / "my-three.safetensors"
    Image.new("L", (28, 28), 0).save(picture, format="PNG")
    page = app_page
    page.goto(streamlit_server.url("/runs"))
    wait_for_app(page, timeout=90)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(picture))
    error = page.get_by_test_id("stAlertContentError")
    error.first.wait_for(timeout=60_000)
    text = error.first.inner_text()
    assert "PNG picture" in text and "Inversion" in text and "header" not in text, text
    screenshot(page, "runs-renamed-picture")
    assert_no_exception(page, "a renamed picture")
