"""Real-browser test of the latent pages: headless Chromium drives `streamlit run streamlit_app.py`.

A fresh session has no trained run, so both pages open the first shipped demo model (models/demo-*.safetensors).
On Latent space it moves the z1 slider and a "Direction 1" principal-direction slider with the keyboard and checks
that each move redraws the big generated image while the classifier and D metrics keep rendering; then it goes to
Interpolation and checks the lerp and slerp strips and the chart along the path. Screenshots (latent,
interpolation) and the server log land in test-output/browser/. Fixtures: tests/conftest.py; helpers:
tests/browser_support.py. Needs Debian's Chromium: skipped without it, except in CI, where it fails.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from browser_support import REPO_ROOT, assert_no_exception, output_dir, screenshot, wait_for_app, wait_until

pytestmark = pytest.mark.browser

SCREENSHOTS = ("latent", "interpolation")
TEST_DEADLINE = 120.0  # seconds for the whole test, server start (at most 60 s) excluded
MODELS = REPO_ROOT / "models"
PRESSES = 10  # arrow-key presses per slider move: z1 moves 0.10, a direction 1.0σ (steps 0.01 and 0.1)

# The big generated image: the first st.image in the main area (st.image(..., width=280), no caption).
JS_BIG_IMAGE = """() => {
    const img = document.querySelector('[data-testid="stMain"] [data-testid="stImage"] img');
    if (!img) return null;
    const src = img.getAttribute('src') || '';
    return {src, media: src.includes('/media/'), loaded: img.complete && img.naturalWidth > 0,
            width: img.naturalWidth, height: img.naturalHeight};
}"""
# Every st.image in the main area whose caption starts with `prefix`.
JS_IMAGES_CAPTIONED = """(prefix) => {
    const out = [];
    for (const el of document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"]')) {
        const cap = el.querySelector('[data-testid="stImageCaption"]');
        const img = el.querySelector('img');
        if (cap && img && cap.innerText.trim().startsWith(prefix))
            out.push({src: img.getAttribute('src'), caption: cap.innerText.trim(),
                      loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
                      height: img.naturalHeight});
    }
    return out;
}"""
# The first Plotly chart as drawn: its title and how many traces it has (see tests/test_browser.py).
JS_CHART = """() => {
    const el = document.querySelector('[data-testid="stMain"] [data-testid="stPlotlyChart"] .js-plotly-plot');
    if (!el || !el.data) return null;
    const t = el.layout && el.layout.title;
    return {title: typeof t === 'string' ? t : (t && t.text) || '', traces: (el._fullData || el.data).length,
            drawn: el.querySelectorAll('.scatterlayer .trace').length};
}"""
# A slider thumb's value. Streamlit 1.67's thumb is a visually hidden <input type="range"> (implicit role slider,
# its aria-valuenow is the input's value); older versions put role="slider" and aria-valuenow on a div.
JS_SLIDER_VALUE = "el => el.getAttribute('aria-valuenow') ?? el.value ?? el.getAttribute('aria-valuetext')"


def big_image(page) -> dict | None:
    return page.evaluate(JS_BIG_IMAGE)


def captioned(page, prefix: str) -> list[dict]:
    return page.evaluate(JS_IMAGES_CAPTIONED, prefix)


def picker(page):
    """The 'Generator to explore' st.selectbox: a combobox <input> whose value is the option shown."""
    return page.get_by_test_id("stMain").get_by_role("combobox", name="Generator to explore", exact=True)


def slider_thumb(page, label: str | re.Pattern):
    """The thumb of the st.slider labelled `label` (exactly, or matching a pattern): the element that takes focus
    and arrow keys. (By role its accessible name reads "z1 z1": aria-labelledby names the input and its group.)"""
    text = page.get_by_test_id("stWidgetLabel").get_by_text(label, exact=True)
    box = page.get_by_test_id("stMain").get_by_test_id("stSlider").filter(has=text)
    return box.locator('input[type="range"], [role="slider"]')


def slider_value(thumb) -> float:
    return float(thumb.evaluate(JS_SLIDER_VALUE))


def metrics(page) -> dict[str, str]:
    """The st.metric tiles in the main area: label -> value ("Read as" -> "3")."""
    tiles = page.get_by_test_id("stMain").get_by_test_id("stMetric")
    out = {}
    for i in range(tiles.count()):
        tile = tiles.nth(i)
        label, value = tile.get_by_test_id("stMetricLabel"), tile.get_by_test_id("stMetricValue")
        if label.count() and value.count():
            out[label.inner_text().strip()] = value.inner_text().strip()
    return out


def check_metrics(page, where: str) -> dict[str, str]:
    """The point's metrics render: the digit it is read as and D's verdict (the demos keep their D)."""
    shown = wait_until(lambda: (m := metrics(page)) and "Read as" in m and "D's verdict" in m and m,
                       15, f"the 'Classifier reads' and 'D's verdict' metrics ({where})")
    assert re.fullmatch(r"\d", shown["Read as"]), f"{where}: it is read as {shown!r}"
    assert re.fullmatch(r"-?\d+\.\d\d", shown["D's verdict"]), f"{where}: D's verdict reads {shown!r}"
    return shown


def move_slider(page, thumb, presses: int, step: float) -> tuple[float, float]:
    """Focus a slider's thumb and press an arrow key `presses` times, as a keyboard user would: towards 0, the
    middle of these sliders, so the thumb cannot be stuck at an end. Checks the thumb moved by `presses` steps;
    returns its (before, after) values."""
    thumb.scroll_into_view_if_needed()
    before = slider_value(thumb)
    key, sign = ("ArrowLeft", -1) if before > 0 else ("ArrowRight", 1)
    thumb.focus()
    for _ in range(presses):
        page.keyboard.press(key)
    after = slider_value(thumb)
    assert after == pytest.approx(before + sign * step * presses, abs=1e-6), \
        f"{presses} x {key} moved the slider from {before} to {after}"
    return before, after


def first_demo() -> str:
    """The title the pages should open with: "Demo: " and, when models/demos.json records them (in the app's
    order), the first demo whose file is there. The module stays free of `explorer` imports, like test_browser.py."""
    files = {p.name for p in MODELS.glob("demo-*.safetensors")}
    if not files:
        pytest.fail(f"no demo model in {MODELS} (build them with `python -m explorer build-demos`)", pytrace=False)
    try:
        records = json.loads((MODELS / "demos.json").read_text()).values()
    except (OSError, ValueError):
        records = []
    return next((r["title"] for r in records if r.get("file") in files and r.get("title")), "Demo: ")


def screenshot_whole(page, name: str):
    """`screenshot`, with the viewport first grown to the page's height: Streamlit scrolls inside stMain, so a
    full-page screenshot would stop at the viewport's bottom edge."""
    size = page.viewport_size
    js = "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    for _ in range(3):  # the layout may shift once the viewport grows
        height = min(page.evaluate(js), 6000)
        if height <= page.viewport_size["height"]:
            break
        page.set_viewport_size({"width": size["width"], "height": height})
        time.sleep(0.5)
    try:
        return screenshot(page, name)
    finally:
        page.set_viewport_size(size)


def test_latent_sliders_and_interpolation(app_page, streamlit_server):
    page, server = app_page, streamlit_server
    started = time.monotonic()
    for name in SCREENSHOTS:  # no stale pictures from an earlier run
        (output_dir() / f"{name}.png").unlink(missing_ok=True)
    demo = first_demo()

    def left(cap: float) -> float:
        """Seconds to wait for the next thing: at most `cap`, never past the test's deadline."""
        remaining = TEST_DEADLINE - (time.monotonic() - started)
        assert remaining > 0, f"the test ran past its {TEST_DEADLINE:.0f}s deadline"
        return min(cap, remaining)

    # ---- Latent space: a fresh session opens the first demo model ----------------------------------------------
    page.goto(server.url("/latent"))
    wait_for_app(page, timeout=left(90))  # the first run imports torch and derives the directions
    main = page.get_by_test_id("stMain")
    main.get_by_role("heading", name="Latent space").first.wait_for(timeout=left(30) * 1000)
    assert_no_exception(page, "Latent space")
    assert picker(page).count() == 1, "no 'Generator to explore' picker on the Latent space page"
    picked = picker(page).input_value()
    assert picked.startswith(demo), f"the picker should show the first demo model ({demo!r}...): {picked!r}"

    first = wait_until(lambda: (b := big_image(page)) and b["media"] and b["loaded"] and b, left(30),
                       "the big generated image")
    assert first["width"] == first["height"] > 0, f"the generated image should be square: {first}"
    check_metrics(page, "at the start")

    # ---- Move z1 with the keyboard: the picture changes -----------------------------------------------------------
    z1 = slider_thumb(page, "z1")
    assert z1.count() == 1, "no z1 slider on the Dimensions tab"
    before, after = move_slider(page, z1, PRESSES, 0.01)
    moved = wait_until(lambda: (b := big_image(page)) and b["loaded"] and b["src"] != first["src"] and b,
                       left(30), "the big image to change after moving z1")
    wait_for_app(page, timeout=left(30))
    assert slider_value(z1) == pytest.approx(after), "z1 did not keep its new value after the rerun"
    check_metrics(page, "after moving z1")
    assert_no_exception(page, "Latent space after moving z1")

    # ---- Move "Direction 1" on the Principal directions tab: the picture changes again ---------------------------
    main.get_by_role("tab", name="Principal directions").click()
    direction = slider_thumb(page, re.compile(r"^Direction 1 · "))
    direction.wait_for(state="visible", timeout=left(15) * 1000)
    d_before, d_after = move_slider(page, direction, PRESSES, 0.1)
    again = wait_until(lambda: (b := big_image(page)) and b["loaded"] and b["src"] not in (first["src"], moved["src"])
                       and b, left(30), "the big image to change after moving Direction 1")
    wait_for_app(page, timeout=left(30))
    assert slider_value(z1) == pytest.approx(after), "moving Direction 1 changed z1"
    shown = check_metrics(page, "after moving Direction 1")
    assert_no_exception(page, "Latent space after moving Direction 1")
    screenshot_whole(page, "latent")
    print(f"z1 {before:+.2f} -> {after:+.2f}, Direction 1 {d_before:+.1f} -> {d_after:+.1f}σ; big image "
          f"{first['width']}x{first['height']}, src changed twice ({again['src'].rsplit('/', 1)[-1]}); metrics {shown}")

    # ---- Interpolation: the lerp and slerp strips and the chart along the path ------------------------------------
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Interpolation").click()
    # page.url only follows the address while Playwright gets to process events; ask the page itself.
    wait_until(lambda: page.evaluate("location.pathname").rstrip("/").endswith("/interpolation"), left(15),
               "the address to be /interpolation")
    main.get_by_role("heading", name="Interpolation").first.wait_for(timeout=left(30) * 1000)
    strips = {}
    for prefix in ("Linear (lerp)", "Spherical (slerp)"):
        strips[prefix] = wait_until(lambda p=prefix: (s := captioned(page, p)) and s[0]["loaded"] and s[0],
                                    left(30), f"the {prefix!r} strip")
    chart = wait_until(lambda: (c := page.evaluate(JS_CHART)) and c["drawn"] > 0 and c, left(30), "the Plotly chart")
    wait_for_app(page, timeout=left(30))
    assert_no_exception(page, "Interpolation")
    for prefix, strip in strips.items():
        assert strip["width"] > 4 * strip["height"] > 0, f"the {prefix!r} strip is not a strip of frames: {strip}"
    assert strips["Linear (lerp)"]["src"] != strips["Spherical (slerp)"]["src"], "lerp and slerp show one picture"
    assert "along the path" in chart["title"].lower(), f"unexpected chart: {chart}"
    picked = picker(page).input_value()
    assert picked.startswith(demo), f"Interpolation should explore the first demo ({demo!r}...): {picked!r}"
    screenshot_whole(page, "interpolation")
    print(f"strips: {[s['caption'] for s in strips.values()]}; chart {chart}; "
          f"{time.monotonic() - started:.1f}s")
