"""Real-browser test of the failure-mode lessons: each one, run from its link, reaches its key moment.

For every lesson, headless Chromium opens `/train?lesson=NAME`, starts it, and waits until the live caption
("Now: ...", or "How it ended: ..." when the trainer's guard ended the run) names the lesson's failure (or, for
the healthy baseline, health). It screenshots that moment as lesson-NAME.png (the healthy one in presenter
mode, switched on from the sidebar, with its Pause button still there) and stops the run.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest
from browser_support import assert_no_exception, output_dir, screenshot, wait_for_app, wait_until
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from explorer import lessons

pytestmark = pytest.mark.browser

HEADLINES = {"healthy": "Healthy: digits appear", "collapse": "Mode collapse", "d_wins": "D is winning outright",
             "exploding": "Exploding: the steps are too big"}
DEADLINE = 240.0  # seconds per lesson: measured 10-60 s alone on 2 cores (README), slower beside the test suite


JS_CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
    .filter(el => el._fullData && el._fullData.length > 0).length"""


def caption(page) -> str:
    """The "what is happening now" caption, normal (**Now: ...**, **How it ended: ...**) or presenter (a heading)."""
    main = page.get_by_test_id("stMain")
    now = main.locator("p").filter(has_text=re.compile(r"^(Now|How it ended):"))
    if now.count():  # it can go before it is read, as the live view redraws
        with contextlib.suppress(PlaywrightTimeout):
            return now.first.inner_text(timeout=2_000)
        return ""
    heads = [h.inner_text() for h in main.locator("h3").all()]
    return next((h for h in heads if h.startswith(("Now:", "How it ended:"))), "")


@pytest.mark.parametrize("name", list(lessons.LESSONS))
def test_lesson_reaches_its_key_moment(name, app_page, streamlit_server):
    page, lesson = app_page, lessons.get(name)
    shot = output_dir() / f"lesson-{name}.png"
    shot.unlink(missing_ok=True)
    page.goto(streamlit_server.url(f"/train?lesson={name}"))
    wait_for_app(page, timeout=90)
    assert_no_exception(page, f"lesson {name}")
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    page.get_by_text(f"Lesson: {lesson.title}").first.wait_for(timeout=60_000)
    if lesson.fix:  # drawn with the card, a moment after its title (the same rerun; the DOM catches up)
        wait_until(lambda: page.get_by_role("button", name="Try the fix").count() == 1, 10, "one 'Try the fix' button")
    presenting = name == "healthy"
    if presenting:  # a projector: the sidebar toggle hides the settings, and keeps the run's own buttons
        page.get_by_test_id("stSidebar").get_by_text("Presenter mode").click()
        wait_until(lambda: page.get_by_text("Change while training").count() == 0, 30,
                   "presenter mode to hide the live settings")
        wait_until(lambda: page.get_by_role("button", name="Pause", exact=True).count() >= 1, 10,
                   "the run's Pause button in presenter mode")  # the same rerun: the DOM catches up
    wanted = HEADLINES[lesson.expect]
    started = time.monotonic()
    wait_until(lambda: wanted in caption(page), DEADLINE, f"the caption to say {wanted!r}", every=0.5)
    print(f"{name}: {wanted!r} after {time.monotonic() - started:.0f} s: {caption(page)!r}")
    # the quality meter's charts are on the page with it
    wait_until(lambda: page.get_by_text("Quality meter").count() > 0, 30, "the quality meter")
    page.set_viewport_size({"width": 1400, "height": 3200})  # the whole live view in one picture
    wait_until(lambda: page.evaluate(JS_CHARTS_DRAWN) >= 7, 30, "the loss, D, dynamics and quality charts drawn")
    assert_no_exception(page, f"lesson {name}, key moment")
    screenshot(page, f"lesson-{name}")
    # Free the CPU for the next lesson (closing the page would, after the server's grace period). Best effort:
    # during a rerun the live controls can briefly show twice.
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Stop", exact=True).first.click(timeout=5_000)


def test_try_the_fix_pressed_mid_run_starts_the_fix(app_page, streamlit_server):
    """The button sits in the live view, which redraws every second; the fix must start, not the lesson again
    (the browser's stale form values once won that race)."""
    page, lesson = app_page, lessons.get("collapse")
    page.goto(streamlit_server.url("/train?lesson=collapse"))
    wait_for_app(page, timeout=90)
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    wait_until(lambda: "Status: running" in page.get_by_test_id("stMain").inner_text(), 60, "the lesson to run")
    time.sleep(15)  # a quality reading or two, and many redraws
    page.get_by_role("button", name="Try the fix").first.click()
    wait_until(lambda: "Run 2 (the fix)" in page.get_by_test_id("stMain").inner_text(), 60, "the fix to start")
    wait_until(lambda: page.get_by_text(f"Lesson: {lesson.title} — the fix").count() >= 1, 30, "the fix's card")
    assert "g_lr=0.001" in page.url and "g_lr=0.0001" not in page.url  # the fix's setting, in the share link
    assert_no_exception(page, "the fix")
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Stop", exact=True).first.click(timeout=5_000)


JS_LAYOUT = """() => {
    const grid = [...document.querySelectorAll('[data-testid="stImage"] img')]
        .find(i => i.getBoundingClientRect().height > 200);
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .filter(el => el._fullData && el._fullData.length > 0);
    const sizes = charts.flatMap(c => [...c.querySelectorAll('text')]
        .filter(t => t.textContent.trim() && t.getBoundingClientRect().width > 0)
        .map(t => parseFloat(getComputedStyle(t).fontSize)));
    const now = [...document.querySelectorAll('[data-testid="stMain"] h3')]
        .find(h => /^(Now|How it ended):/.test(h.innerText));
    return {grid: grid ? grid.getBoundingClientRect().bottom : null,
            now: now ? now.innerText : null, nowBottom: now ? now.getBoundingClientRect().bottom : null,
            chart: charts.length ? charts[0].getBoundingClientRect().bottom : null,
            smallest: sizes.length ? Math.min(...sizes) : null, texts: sizes.length,
            titles: [...document.querySelectorAll('h1')].map(h => h.innerText)};
}"""


def test_presenter_mode_reads_from_the_back_of_a_room(chromium_browser, streamlit_server):
    """At 1280x720, what a projector shows: no title or intro; the one sentence that matters now, the sample grid
    and the loss chart without scrolling; and no text on any chart under 18 px."""
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(streamlit_server.url("/train?lesson=healthy&present=1"))
        wait_for_app(page, timeout=90)
        assert "Train a GAN" not in page.evaluate(JS_LAYOUT)["titles"]
        page.get_by_role("button", name="Start this lesson").click()
        laid_out = wait_until(lambda: (lambda m: m if m["grid"] and m["chart"] and m["texts"] > 20 else None)(
            page.evaluate(JS_LAYOUT)), 90, "the grid and the charts drawn")
        assert laid_out["grid"] <= 720 and laid_out["chart"] <= 720, laid_out  # both above the fold
        assert laid_out["smallest"] >= 18, laid_out
        laid_out = wait_until(lambda: (lambda m: m if m["now"] and "Starting" not in m["now"] else None)(
            page.evaluate(JS_LAYOUT)), 90, "a diagnosis past 'Starting'")
        assert laid_out["nowBottom"] <= 720, laid_out  # the sentence, too, without scrolling
        # the headline and one plain sentence for a class: no "evaluation mode", no Fréchet numbers
        said = laid_out["now"]
        assert said.count(". ") <= 2 and "Fréchet" not in said and "evaluation mode" not in said, laid_out
        assert_no_exception(page, "presenter mode")
        page.screenshot(path=str(output_dir() / "presenter-1280x720.png"))
        page.get_by_role("button", name="Stop", exact=True).first.click(timeout=5_000)
    finally:
        context.close()
