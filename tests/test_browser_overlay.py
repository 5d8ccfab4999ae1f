"""Real-browser test of "What D tells G" at a 1280-pixel-wide window: on the Train page the verdicts under the 8×8
grid stand at least 12 px tall on screen, measured from the picture the page sent (its text rows) times the scale
the browser draws it at (clientWidth / naturalWidth); on Latent space the big digit is coloured and still shows.
Screenshots (overlay-train, overlay-latent) land in test-output/browser/. Fixtures: tests/conftest.py."""

from __future__ import annotations

import time

import pytest
from browser_support import assert_no_exception, screenshot, wait_for_app, wait_until
from caption_measure import caption_heights

pytestmark = pytest.mark.browser

VERDICT_PX = 12  # explorer.ui.push_view.VERDICT_PX, the goal on screen
JS_IMAGE = """(prefix) => {
    for (const el of document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')) {
        const cap = el.querySelector('[data-testid="stImageCaption"]');
        const img = el.querySelector('img');
        if (img && (prefix === '' ? !cap : cap && cap.innerText.trim().startsWith(prefix)))
            return {src: img.currentSrc || img.src, loaded: img.complete && img.naturalWidth > 0,
                    natural: img.naturalWidth, shown: img.clientWidth};
    }
    return null;
}"""


def image(page, prefix: str) -> dict | None:
    return page.evaluate(JS_IMAGE, prefix)


def switch_on(page, label: str) -> None:
    page.get_by_test_id("stMain").get_by_text(label, exact=True).click()  # the toggle, by its label


def test_what_d_tells_g_reads_at_a_glance(app_page, streamlit_server):
    page, server = app_page, streamlit_server
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server.url("/latent"))
    wait_for_app(page, timeout=90)
    page.get_by_test_id("stMain").get_by_role("heading", name="Latent space").first.wait_for(timeout=90_000)
    first = wait_until(lambda: (i := image(page, "")) and i["loaded"] and i, 60, "the big digit")
    switch_on(page, "What D tells G")
    wait_until(lambda: (i := image(page, "")) and i["loaded"] and i["src"] != first["src"], 30, "the coloured digit")
    wait_for_app(page, timeout=30)
    assert_no_exception(page, "Latent space with What D tells G")
    page.get_by_test_id("stMain").get_by_test_id("stImage").first.screenshot(
        path=str(screenshot(page, "overlay-latent").with_name("overlay-latent-digit.png")))

    page.goto(server.url("/train?preset=default&digits=3&seconds=60"))
    wait_for_app(page, timeout=90)
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    plain = wait_until(lambda: (i := image(page, "Samples at step")) and i["loaded"] and i, 60, "the sample grid")
    switch_on(page, "What D tells G")
    # measured in the very picture the browser shows, scaled as it draws it. The grid is redrawn every second as
    # the run trains, so a new picture is not yet the overlay: wait for one that has the verdict bands (and fetch it
    # at once: Streamlit lets an old picture's file go when the next one replaces it).
    def overlay_shown():
        i = image(page, "Samples at step")
        if not (i and i["loaded"] and i["src"] != plain["src"]):
            return None
        try:
            found = caption_heights(page.request.get(i["src"]).body())
        except (OSError, ValueError):  # let go before it was fetched (not a picture any more): the next one
            return None
        return (i, found) if len(found) == 8 else None

    shown, heights = wait_until(overlay_shown, 30, "the grid with D's push and a verdict band under each row")
    on_screen = min(heights) * shown["shown"] / shown["natural"]
    assert_no_exception(page, "Train with What D tells G")
    page.get_by_role("button", name="Stop").first.click()
    time.sleep(1)
    screenshot(page, "overlay-train")
    print(f"Train grid: {shown['natural']} px drawn {shown['shown']} px wide; verdicts {min(heights)} px in the "
          f"picture, {on_screen:.1f} px on screen")
    assert on_screen >= VERDICT_PX, f"the verdicts stand {on_screen:.1f} px on screen (goal {VERDICT_PX})"
