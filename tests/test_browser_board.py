"""Real-browser test of the class board (issue 25): a teacher and three students, each in their own browser context
(so their own Streamlit session), on one server.

The teacher starts a class on Home with a challenge (digit 3, a few hundred steps of the small minimal-tf preset)
and reads the student and board links off the page. Three students open the student link, give their names (one
is an HTML injection, which must show literally and never become an element or fire a dialog) and start their
runs. The teacher's board shows all three with their steps moving live; the teacher spotlights one (big grid and
charts) and hides it. A student opening the board without the key is told it is the teacher's, until the teacher
flips the switch; then the student sees it read-only, without the hidden run and without the teacher's actions.
Last, presenter mode at 1280x720: every run on one screen, names at 18 px or more, nothing overlapping.

Screenshots (board-teacher, board-join, board-joined, board-student, board-presenter) land in test-output/browser/
and in /tmp/board-shots/ (BOARD_SHOTS overrides it); each context's console goes to board-<who>.console.log.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import assert_no_exception, output_dir, wait_for_app, wait_until
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("BOARD_SHOTS", "/tmp/board-shots"))
DIGIT = "3"
PRESET = "minimal-tf"  # G 64, D 512, batch 16: a challenge run is a few seconds of CPU
STEPS = 1000  # the challenge's steps: long enough to watch live on a board, short enough for 2 cores
INJECTION = "<img src=x onerror=alert(1)>"
NAMES = ("Ada", INJECTION, "Grace")  # the board's order: the runs' order, until a Fréchet reading ranks them
SHOWN = {name: name[:24] for name in NAMES}  # the name field keeps 24 characters: "<img src=x onerror=alert"
CODE = re.compile(r"[A-Za-z]{6}")
TEST_DEADLINE = 170.0  # seconds for the whole test, server start excluded; it takes about a minute on 2 cores
LOCAL_ONLY = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)[:/]|data:|blob:|about:)")

# The gallery's cards: each has a "Spotlight" button (key spot_<run id>) and two st.text lines, the label
# ("Ada · Run 1") and the status ("training · step 1,234", "· hidden" at its end when the teacher hid the run).
JS_GALLERY = """() => [...document.querySelectorAll('[class*="st-key-spot_"]')].flatMap(el => {
    const m = /\\bst-key-spot_(\\d+)\\b/.exec(el.className);
    const card = m && el.closest('[data-testid="stVerticalBlock"]');
    if (!card) return [];
    const texts = [...card.querySelectorAll('[data-testid="stText"]')].map(t => t.innerText.trim());
    const img = card.querySelector('[data-testid="stImage"] img');
    return [{run: Number(m[1]), label: texts[0] || '', status: texts[1] || '',
             thumb: !!(img && img.complete && img.naturalWidth > 0)}];
})"""
# What an HTML injection would have made: an <img src=x>, an onerror handler, a request for "x".
JS_INJECTED = """() => document.querySelectorAll('img[src="x"], [onerror]').length"""
# Presenter mode's wall: its texts (names and figures), their font sizes and boxes, and its thumbnails.
JS_WALL = """() => {
    const wall = document.querySelector('.st-key-board_wall');
    if (!wall) return null;
    const box = r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
    const texts = [...wall.querySelectorAll('[data-testid="stText"]')].map(t => {
        const inner = t.querySelector('span') || t;  // the text's own font size; the box is what shows (clipped)
        return {text: t.innerText.trim(), px: parseFloat(getComputedStyle(inner).fontSize),
                box: box(t.getBoundingClientRect())};
    });
    const imgs = [...wall.querySelectorAll('[data-testid="stImage"] img')].map(i => ({
        loaded: i.complete && i.naturalWidth > 0, box: box(i.getBoundingClientRect())}));
    return {texts, imgs, scrollWidth: document.documentElement.scrollWidth};
}"""
STATUS = re.compile(r"^(\w+)(?:,| ·) step ([\d,]+)")  # "training · step 1,234" (or "training, step 1,234")


class Deadline:
    """Seconds left for the next wait: at most `cap`, never past the test's deadline."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.start = time.monotonic()

    def __call__(self, cap: float) -> float:
        remaining = self.end - time.monotonic()
        assert remaining > 0, "the test ran past its deadline"
        return min(cap, remaining)

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class Person:
    """One browser context (one person, one Streamlit session at a time) and its open pages, watched: dialogs are
    dismissed and recorded, requests for the injection's "x" recorded, the console logged."""

    def __init__(self, browser, who: str):
        self.who = who
        self.context = browser.new_context(viewport={"width": 1400, "height": 1800}, device_scale_factor=1)
        self.context.route(LOCAL_ONLY, lambda route: route.abort())
        self.dialogs: list[str] = []
        self.x_requests: list[str] = []
        self.console: list[str] = []
        self.pages = []

    def page(self, viewport: dict | None = None):
        page = self.context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        page.set_default_timeout(30_000)
        page.set_default_navigation_timeout(60_000)
        page.on("dialog", self._dialog)
        page.on("request", lambda r: urlparse(r.url).path.endswith("/x") and self.x_requests.append(r.url))
        page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))
        self.pages.append(page)
        return page

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        with contextlib.suppress(Exception):
            dialog.dismiss()

    def assert_no_injection(self, page, where: str) -> None:
        assert page.evaluate(JS_INJECTED) == 0, f"{where}: the name became HTML (an <img src=x> or onerror)"
        assert not self.dialogs, f"{where}: a dialog fired: {self.dialogs}"
        assert not self.x_requests, f"{where}: the page asked for the injection's image: {self.x_requests}"

    def close(self, failed: bool) -> None:
        out = output_dir()
        (out / f"board-{self.who}.console.log").write_text("\n".join(self.console) + "\n")
        if failed:
            for i, page in enumerate(self.pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(out / f"board-{self.who}-{i}-failure.png"), full_page=True)
        self.context.close()


def shoot(page_or_element, name: str, **kwargs) -> Path:
    """Save board-<name>.png in the test-output folder and copy it into SHOTS."""
    path = output_dir() / f"board-{name}.png"
    page_or_element.screenshot(path=str(path), **kwargs)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / f"board-{name}.png")
    return path


def gallery(page) -> dict[str, dict]:
    """The board's gallery cards by label ("Ada · Run 1"), each with its status, step and whether its thumbnail
    is drawn; {} while there are none (or while the live fragment redraws). A board showing an exception fails the
    test at once, rather than after a wait."""
    assert_no_exception(page, "the board")
    try:
        cards = page.evaluate(JS_GALLERY)
    except Exception:  # the page is between two renders; ask again
        return {}
    out = {}
    for card in cards:
        m = STATUS.match(card["status"])
        card["state"], card["step"] = (m.group(1), int(m.group(2).replace(",", ""))) if m else ("", -1)
        out[card["label"]] = card
    return out


def label(name: str) -> str:
    return f"{SHOWN[name]} · Run 1"


def click_until(button, done, timeout: float, what: str) -> None:
    """Click `button` (a Streamlit button inside the board's live fragment, which redraws every 2 s) until `done()`
    holds: a click that lands while the fragment redraws can be lost, so click again if nothing came of it."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s: {what}"
        with contextlib.suppress(PlaywrightTimeout):
            if button.count():
                button.first.click(timeout=3_000)
        with contextlib.suppress(AssertionError):
            wait_until(done, 4, what)


def start_class(page, server, left) -> tuple[str, str, str]:
    """Home, "Start a class": digit 3, STEPS steps, from PRESET; the board closed to students. Returns the code and
    the two links as the page shows them."""
    page.goto(server.url("/"))
    wait_for_app(page, timeout=left(90))  # the first run imports torch
    page.get_by_test_id("stExpander").filter(has_text="Start a class").locator("summary").click()
    form = page.get_by_test_id("stForm").filter(has_text="Start the class")
    form.wait_for(timeout=left(30) * 1000)
    assert form.get_by_role("switch", name="Set a challenge").is_checked()
    form.get_by_role("button", name="Remove 8").click()  # the default digit
    form.get_by_role("combobox", name="Digits").click()
    page.get_by_role("option", name=DIGIT, exact=True).click()
    page.keyboard.press("Escape")
    form.get_by_label("Steps per run", exact=True).fill(str(STEPS))
    form.get_by_role("combobox", name="Start from the preset").click()
    page.get_by_role("option", name=PRESET, exact=True).click()
    wait_until(lambda: form.get_by_test_id("stMultiSelectTagsContainer").inner_text().split() == [DIGIT]
               and form.get_by_role("combobox", name="Start from the preset").input_value() == PRESET,
               left(10), f"digit {DIGIT} and preset {PRESET} chosen")
    assert not form.get_by_role("switch", name="Students may see the board (read-only)").is_checked()
    form.get_by_role("button", name="Start the class").click()
    links = wait_until(lambda: (c := page.get_by_test_id("stCode").all_inner_texts()) and len(c) == 2 and c,
                       left(30), "the class's two links")
    student_link, board_link = (s.strip() for s in links)
    assert_no_exception(page, "Home, after starting a class")
    assert urlparse(student_link).path == "/train" and urlparse(board_link).path == "/board", links
    code = parse_qs(urlparse(student_link).query)["class"][0]
    assert CODE.fullmatch(code) and not set(code) & set("0O1l"), f"a class code should read aloud easily: {code!r}"
    board_query = parse_qs(urlparse(board_link).query)
    assert board_query["class"] == [code] and len(board_query["key"][0]) >= 16, board_link
    assert page.get_by_text(f"Class {code} is ready.").count() == 1
    assert page.get_by_role("link", name="Open the board").count() == 1
    return code, student_link, board_link


def join_and_start(person: Person, name: str, code: str, student_link: str, left) -> None:
    """A student: the class link, a name (typed as a person types, so the field's 24-character limit applies),
    Join, the notice and the challenge's fields, then Start training."""
    page = person.page()
    page.goto(student_link)
    wait_for_app(page, timeout=left(60))
    heading = page.get_by_role("heading", name=f"Join class {code}")
    heading.wait_for(timeout=left(30) * 1000)
    form = page.get_by_test_id("stForm").filter(has_text="Join the class")
    field = form.get_by_label("Your name on the class board", exact=True)
    field.press_sequentially(name)
    assert field.input_value() == SHOWN[name], f"the name field holds {field.input_value()!r}"
    if name == INJECTION:
        shoot(heading.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]"), "join")
    form.get_by_role("button", name="Join the class").click()
    notice = page.get_by_text("Your runs are shown to your class")
    notice.wait_for(timeout=left(30) * 1000)
    shown = page.get_by_test_id("stText").filter(has_text="Your name on the board:")
    wait_until(lambda: shown.count() == 1, left(10), "the name on the notice")
    assert shown.inner_text().strip() == f"Your name on the board: {SHOWN[name]}", shown.inner_text()
    wait_for_app(page, timeout=left(30))
    assert_no_exception(page, f"{name!r} joined")
    person.assert_no_injection(page, f"{name!r}'s Train page")
    if name == INJECTION:
        shoot(notice.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]"), "joined")
    # The challenge's fields: set, disabled and marked
    assert page.get_by_text("Set by your class", exact=False).count() >= 1
    digits = page.get_by_role("toolbar", name="Digits")
    assert digits.get_by_role("button", name=DIGIT, exact=True).get_attribute("aria-pressed") == "true"
    assert digits.get_by_role("button", name=DIGIT, exact=True).is_disabled()
    amount = page.get_by_label("How many (steps, epochs or seconds)", exact=True)
    assert amount.is_disabled() and amount.input_value().replace(",", "") == str(STEPS), amount.input_value()
    page.get_by_test_id("stFormSubmitButton").get_by_role("button", name="Start training", exact=True).click()
    wait_until(lambda: page.get_by_test_id("stMain").locator("p").filter(has_text="Status:").count() > 0,
               left(30), f"{name!r}'s run to start (its status line)")


def open_board(page, code: str, left) -> None:
    """Reload a student's board until it is the board, not the "for its teacher" notice: the teacher's switch is
    saved by the rerun its click starts, which can still be under way when the student reloads."""
    board, notice = page.get_by_text("Leaderboard."), page.get_by_text(f"Class {code}'s board is for its teacher")
    for _ in range(5):
        page.reload()
        wait_until(lambda: board.count() or notice.count(), left(60), "the board or its 'for its teacher' notice")
        if board.count():
            return
        time.sleep(0.5)
    raise AssertionError("the teacher turned the students' switch on, but the board stays closed to a student")


def test_class_board(chromium_browser, streamlit_server):
    left = Deadline(TEST_DEADLINE)
    server = streamlit_server
    for old in SHOTS.glob("board-*.png") if SHOTS.is_dir() else ():
        old.unlink()
    people: list[Person] = []
    failed = True
    try:
        teacher = Person(chromium_browser, "teacher")
        people.append(teacher)
        home = teacher.page()
        code, student_link, board_link = start_class(home, server, left)
        print(f"class {code} started after {left.elapsed():.0f} s")

        # ---- the board, open before anyone joins: it fills as the students start ----------------------------
        board = teacher.page()
        board.goto(board_link)
        board.get_by_role("heading", name=f"Class {code}", exact=True).wait_for(timeout=left(60) * 1000)
        board.get_by_text("No runs yet").first.wait_for(timeout=left(30) * 1000)
        assert board.get_by_text("Leaderboard.").count() == 1, "a challenge's board is a leaderboard"
        assert board.get_by_test_id("stExpander").filter(has_text="Teacher").count() == 1

        # ---- three students join and start -----------------------------------------------------------------
        students = {}
        for name in NAMES:
            students[name] = person = Person(chromium_browser, f"student{len(students) + 1}")
            people.append(person)
            join_and_start(person, name, code, student_link, left)
        print(f"three runs started after {left.elapsed():.0f} s")

        # ---- the board: all three, live ------------------------------------------------------------------------
        wanted = {label(n) for n in NAMES}
        seen: dict[str, set[int]] = {}  # steps seen while training, by card
        waiting_seen = []

        def live() -> bool:
            cards = gallery(board)
            for card in cards.values():
                if card["state"] == "training":
                    seen.setdefault(card["label"], set()).add(card["step"])
            if board.get_by_text("Waiting for a training slot").count():
                waiting_seen.append(True)
            moved = any(len(steps) >= 2 for steps in seen.values())
            return set(cards) == wanted and moved

        wait_until(live, left(90), f"all three runs ({sorted(wanted)}) on the board and one's step moving live",
                   every=0.5)
        print(f"live steps seen: { {k: sorted(v) for k, v in seen.items()} }; a waiting line seen: "
              f"{bool(waiting_seen)}")
        assert_no_exception(board, "the teacher's board")
        teacher.assert_no_injection(board, "the teacher's board")
        labels = board.get_by_test_id("stText").filter(has_text=" · Run 1").all_inner_texts()
        assert label(INJECTION) in [t.strip() for t in labels], labels  # literally, as text

        # ---- spotlight one, then hide it -------------------------------------------------------------------
        ada = gallery(board)[label("Ada")]
        spot_heading = board.get_by_role("heading", name="Spotlight")
        click_until(board.locator(f".st-key-spot_{ada['run']} button"), lambda: spot_heading.count() > 0,
                    left(30), "the Spotlight section after pressing Spotlight")
        wait_until(lambda: board.get_by_text(re.compile(r"^Samples at step [\d,]+$")).count() == 1
                   and board.get_by_test_id("stPlotlyChart").count() >= 1, left(30), "the spotlight's grid and chart")
        spot_text = board.get_by_test_id("stText").filter(has_text=label("Ada"))
        wait_until(lambda: spot_text.count() == 2 and board.get_by_role("button", name="Open in Latent space").count()
                   == 1, left(10), "the spotlit run's label (in the gallery and the spotlight) and its teacher buttons")
        hide = board.get_by_role("button", name="Hide this run", exact=True)
        click_until(hide, lambda: gallery(board).get(label("Ada"), {}).get("status", "").endswith("· hidden"),
                    left(30), "Ada's run marked hidden on the teacher's board")
        wait_until(lambda: board.get_by_role("button", name="Show this run again").count() == 1, left(10),
                   "the 'Show this run again' button")

        # ---- a student opens the board without the key ---------------------------------------------------------
        grace = students["Grace"]
        peek = grace.page()
        peek.goto(server.url(f"/board?class={code}"))
        peek.get_by_text(f"Class {code}'s board is for its teacher for now").wait_for(timeout=left(60) * 1000)
        assert not gallery(peek) and peek.get_by_text("Leaderboard.").count() == 0, "the board, to a student"
        teacher_box = board.get_by_test_id("stExpander").filter(has_text="Teacher")
        teacher_box.locator("summary").click()
        switch = teacher_box.get_by_role("switch", name="Students may see this board (read-only)")
        switch.wait_for(state="attached", timeout=left(10) * 1000)
        assert not switch.is_checked()
        teacher_box.get_by_test_id("stCheckbox").filter(has_text="Students may see this board").locator(
            "label").click()
        wait_until(lambda: switch.is_checked(), left(10), "the students' switch on")

        open_board(peek, code, left)
        others = {label(INJECTION), label("Grace")}
        wait_until(lambda: set(gallery(peek)) == others, left(30), f"the student's board to show {sorted(others)}")
        assert peek.get_by_text("· hidden").count() == 0
        assert peek.get_by_test_id("stExpander").filter(has_text="Teacher").count() == 0
        assert peek.get_by_text("Students may see this board").count() == 0
        assert_no_exception(peek, "the student's board")
        grace.assert_no_injection(peek, "the student's board")
        # read-only: a student can spotlight a run, but has none of the teacher's buttons
        mine = gallery(peek)[label("Grace")]
        click_until(peek.locator(f".st-key-spot_{mine['run']} button"),
                    lambda: peek.get_by_role("heading", name="Spotlight").count() > 0, left(30),
                    "the student's spotlight")
        for teacher_only in ("Hide this run", "Hide the name", "Open in Latent space", "Show this run again"):
            assert peek.get_by_role("button", name=teacher_only).count() == 0, teacher_only

        # ---- every run finished: the board's picture, the withdraw switch ---------------------------------------
        wait_until(lambda: (cards := gallery(board)) and len(cards) == 3 and all(
            c["state"] == "finished" and c["step"] == STEPS and c["thumb"] for c in cards.values()), left(90),
            "all three runs finished with a thumbnail on the teacher's board", every=0.5)
        print(f"all three finished after {left.elapsed():.0f} s")
        wait_until(lambda: (cards := gallery(peek)) and len(cards) == 2 and all(
            c["state"] == "finished" and c["thumb"] for c in cards.values()), left(15),
            "the student's board to show the two runs finished, with thumbnails")
        shoot(peek, "student", full_page=True)
        shoot(board, "teacher", full_page=True)
        switch_on_train = grace.pages[0].get_by_role("switch", name="Run 1")
        wait_until(lambda: switch_on_train.count() == 1, left(30), "Grace's switch for her run on the board")
        assert switch_on_train.is_checked()

        # ---- presenter mode at 1280x720 --------------------------------------------------------------------------
        wall = teacher.page(viewport={"width": 1280, "height": 720})
        wall.goto(board_link + "&present=1")
        measured = wait_until(lambda: (m := wall.evaluate(JS_WALL)) and len(m["imgs"]) == 3
                              and all(i["loaded"] for i in m["imgs"]) and len(m["texts"]) == 6 and m,
                              left(60), "the presenter wall with three thumbnails")
        assert wall.get_by_role("heading", name="Class").count() == 0, "presenter mode shows no title"
        texts = [t["text"] for t in measured["texts"]]
        assert "Ada" in texts and "Grace" in texts, texts
        assert any(t.startswith("<img src=x") for t in texts), texts  # literally (a long name may be cut to fit)
        sizes = [t["px"] for t in measured["texts"]]
        assert min(sizes) >= 18, f"presenter mode's names and figures should be 18 px or more: {measured['texts']}"
        boxes = [t["box"] for t in measured["texts"]] + [i["box"] for i in measured["imgs"]]
        for i, a in enumerate(boxes):
            assert a["left"] >= 0 and a["right"] <= 1280 and a["bottom"] <= 720, f"off screen: {a}"
            for b in boxes[i + 1:]:
                overlap = min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1 and \
                    min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1
                assert not overlap, f"two things overlap on the wall: {a} and {b}"
        assert measured["scrollWidth"] <= 1280, "the wall scrolls sideways"
        assert_no_exception(wall, "presenter mode")
        teacher.assert_no_injection(wall, "presenter mode")
        shoot(wall, "presenter")
        print(f"presenter wall: font sizes {sorted(set(sizes))} px; texts {texts}")
        for person in people:
            assert not person.dialogs and not person.x_requests, (person.who, person.dialogs, person.x_requests)
        print(f"done after {left.elapsed():.0f} s")
        failed = False
    finally:
        for person in people:
            person.close(failed)
