"""Real-browser tests of the drawing pad, the clickable principal plane and "What D tells G", in headless Chromium
against `streamlit run streamlit_app.py` (a fresh session opens the first demo model).

- Drawing: on Interpolation's Inversion tab, "Draw a digit" shows streamlit-drawable-canvas's pad; the mouse draws
  a 3 on it; the digit reader's reading and D's verdict appear; "Find its latent point and open it" lands on the
  Latent space page with the point in the sliders.
- Clicking and the gradient map: on Latent space, the "What D tells G" toggle colours the big digit and explains
  it in one sentence; a click on a tile of the principal-plane map changes the z sliders.

Screenshots (draw-a-digit, what-d-tells-g, principal-plane) land in test-output/browser/. Fixtures:
tests/conftest.py; helpers: tests/browser_support.py and tests/test_browser_latent.py.
"""

from __future__ import annotations

import re
import time

import pytest
from browser_support import assert_no_exception, output_dir, screenshot, wait_for_app, wait_until
from test_browser_latent import big_image, metrics, slider_thumb, slider_value

pytestmark = pytest.mark.browser

TEST_DEADLINE = 150.0  # seconds for a whole test, server start excluded
PLANE_SIDE, PLANE_PICTURE = 7, 2 * (7 * 30 + 2)  # tiles a side; the map's picture in pixels (scale 2, padding 2)
# A 3 in pad pixels (the pad is 280×280): along the top, into the middle, round the bottom.
THREE = [(90, 60), (160, 45), (200, 80), (160, 130), (130, 140), (165, 150), (205, 195), (165, 240), (90, 230)]


def deadline(cap_total: float = TEST_DEADLINE):
    started = time.monotonic()

    def left(cap: float) -> float:
        remaining = cap_total - (time.monotonic() - started)
        assert remaining > 0, f"the test ran past its {cap_total:.0f}s deadline"
        return min(cap, remaining)
    return left


def z_values(page, count: int = 4) -> list[float]:
    """The first `count` dimension sliders' values (z1, z2, ...), read from the Dimensions tab even while hidden."""
    return [slider_value(slider_thumb(page, f"z{i + 1}")) for i in range(count)]


def test_draw_a_digit_see_the_verdict_and_open_its_point(app_page, streamlit_server):
    page, left = app_page, deadline()
    (output_dir() / "draw-a-digit.png").unlink(missing_ok=True)
    page.goto(streamlit_server.url("/interpolation"))
    wait_for_app(page, timeout=left(90))
    main = page.get_by_test_id("stMain")
    main.get_by_role("tab", name="Inversion").click()
    main.get_by_test_id("stButtonGroup").get_by_text("Draw a digit", exact=True).click()
    wait_until(lambda: main.get_by_text("Draw a digit on the pad").count(), left(30), "the pad's 'draw a digit'")
    wait_for_app(page, timeout=left(30))
    assert not metrics(page), "a blank pad already shows a verdict"

    pad = main.locator("canvas").last  # fabric.js stacks its canvases; the top one takes the mouse
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    assert box and box["width"] == box["height"] == 280, f"the pad is not 280×280: {box}"
    page.mouse.move(box["x"] + THREE[0][0], box["y"] + THREE[0][1])
    page.mouse.down()
    for x, y in THREE[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()

    shown = wait_until(lambda: (m := metrics(page)) and "Read as" in m and "D's verdict" in m and m, left(30),
                       "the reading and D's verdict on the drawing")
    wait_for_app(page, timeout=left(30))
    assert_no_exception(page, "the Inversion tab after drawing")
    assert re.fullmatch(r"\d|no digit", shown["Read as"]), f"it is read as {shown!r}"
    assert re.fullmatch(r"\d\.\d\d", shown["D's verdict"]), f"D's verdict reads {shown!r}"  # the demo's P(real)
    assert main.get_by_text("The target, as G sees it").count()
    screenshot(page, "draw-a-digit")

    main.get_by_role("button", name="Find its latent point and open it").click()
    wait_until(lambda: page.evaluate("location.pathname").rstrip("/").endswith("/latent"), left(60),
               "the Latent space page to open")
    main.get_by_role("heading", name="Latent space").first.wait_for(timeout=left(30) * 1000)
    wait_until(lambda: (b := big_image(page)) and b["loaded"], left(30), "the opened point's image")
    wait_for_app(page, timeout=left(30))
    assert_no_exception(page, "Latent space after opening the drawing")
    verdict = shown["D's verdict"]
    print(f"drawing read as {shown['Read as']}, D's verdict {verdict}; opened at z1..z4 = {z_values(page)}")


def test_what_d_tells_g_and_a_click_on_the_principal_plane(app_page, streamlit_server):
    page, left = app_page, deadline()
    for name in ("what-d-tells-g", "principal-plane"):
        (output_dir() / f"{name}.png").unlink(missing_ok=True)
    page.goto(streamlit_server.url("/latent"))
    wait_for_app(page, timeout=left(90))
    main = page.get_by_test_id("stMain")
    plain = wait_until(lambda: (b := big_image(page)) and b["loaded"] and b, left(30), "the big generated image")

    main.get_by_text("What D tells G", exact=True).click()  # the toggle, by its label
    coloured = wait_until(lambda: (b := big_image(page)) and b["loaded"] and b["src"] != plain["src"] and b,
                          left(30), "the big image to take D's colours")
    sentence = main.get_by_text(re.compile("where D would believe this digit more with more ink"))
    sentence.wait_for(timeout=left(15) * 1000)
    wait_for_app(page, timeout=left(30))
    assert coloured["width"] == coloured["height"] == plain["width"], "the coloured map is not the digit's size"
    assert_no_exception(page, "Latent space with What D tells G")
    screenshot(page, "what-d-tells-g")

    before = z_values(page)
    main.get_by_role("tab", name="Principal directions").click()
    plot = main.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").first
    plot.wait_for(state="visible", timeout=left(30) * 1000)
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    fraction = box["width"] / PLANE_PICTURE  # screen pixels per pixel of the map's picture
    row, col = 1, 5  # up and to the right of the point, which is in the middle (3, 3)
    x, y = (box["x"] + fraction * 2 * (col * 30 + 16), box["y"] + fraction * 2 * (row * 30 + 16))
    page.mouse.move(x - 4, y - 4)
    page.mouse.move(x, y, steps=4)  # Plotly picks the point under the pointer on hover, then selects it on click
    page.mouse.click(x, y)
    after = wait_until(lambda: (z := z_values(page)) != before and z, left(30), "the z sliders to move to the tile")
    wait_for_app(page, timeout=left(30))
    assert_no_exception(page, "Latent space after a click on the map")
    plot.scroll_into_view_if_needed()
    screenshot(page, "principal-plane")
    print(f"z1..z4 {before} -> {after}")
