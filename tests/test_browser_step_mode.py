"""Real-browser test of step mode (issue 24): on the default preset (whose grid shows g_ema = 0.999, the weight
average one step barely moves), a paused run's "G step" shows Before and After pictures that differ, because both
come from G itself. The pixels compared are the very PNGs the browser received. The screenshot (step-mode-g.png)
lands in test-output/browser/. Fixtures: tests/conftest.py."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest
from browser_support import assert_no_exception, screenshot, wait_for_app, wait_until
from PIL import Image

pytestmark = pytest.mark.browser

JS_IMAGE = """(prefix) => {
    for (const el of document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')) {
        const cap = el.querySelector('[data-testid="stImageCaption"]');
        const img = el.querySelector('img');
        if (img && cap && cap.innerText.trim().startsWith(prefix) && img.complete && img.naturalWidth > 0)
            return {src: img.currentSrc || img.src, caption: cap.innerText};
    }
    return null;
}"""


def pixels(page, prefix: str) -> tuple[np.ndarray, str]:
    """The grey levels of the picture captioned `prefix...`, as the browser received it, and its caption."""
    shown = wait_until(lambda: page.evaluate(JS_IMAGE, prefix), 30, f"the picture {prefix!r}")
    png = page.request.get(shown["src"]).body()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")).astype(float), shown["caption"]


def test_a_g_step_shows_a_visible_change(app_page, streamlit_server):
    page = app_page
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.goto(streamlit_server.url("/train?preset=default&digits=3&steps=20000"))
    wait_for_app(page, timeout=90)
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    main = page.get_by_test_id("stMain")

    def step() -> int:
        found = re.search(r"Step ([\d,]+) of", main.inner_text())
        return int(found.group(1).replace(",", "")) if found else 0

    wait_until(lambda: step() >= 500, 120, "500 steps of training", every=0.5)  # digits begin to form
    page.get_by_role("button", name="Pause", exact=True).first.click()
    wait_until(lambda: "Status: paused" in main.inner_text(), 30, "the run to pause")
    page.get_by_role("button", name="G step", exact=True).click()
    wait_until(lambda: main.get_by_text("Before the G step").count() > 0, 30, "step mode's pictures")
    wait_for_app(page, timeout=30)
    before, _ = pixels(page, "Before the G step")
    after, after_caption = pixels(page, "After it")
    change, change_caption = pixels(page, "What the G step changed")
    assert before.shape == after.shape
    difference = np.abs(after - before).mean()  # grey levels of 255, over the pictures as drawn (3x, padding)
    print(f"{after_caption}: mean difference {difference:.2f}/255; {change_caption}")
    assert difference > 0.5, f"Before and After differ by only {difference:.2f}/255"  # the issue saw 0.19
    assert "magnified ×" in change_caption and "G itself" in main.inner_text()
    assert_no_exception(page, "step mode after a G step")
    main.get_by_text("Step mode").first.scroll_into_view_if_needed()
    screenshot(page, "step-mode-g")
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Stop", exact=True).first.click(timeout=5_000)
