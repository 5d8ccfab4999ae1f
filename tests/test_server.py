"""The server's start (explorer/ui/server.py): plain `streamlit run streamlit_app.py` serves the whole app whatever
its first request is, and a server whose settings are wrong says so on every page and trains nothing.

If a Streamlit upgrade stops reading a `pages/` folder as a legacy multipage app, the first test fails: then the
workaround (`server.navigation_only`) can go (see explorer/ui/server.py for the upstream issues)."""

import contextlib

import pytest
from apptest_support import APP, PAGES, app, close_services
from browser_support import (
    StreamlitServer,
    assert_no_exception,
    output_dir,
    require_chromium,
    wait_for_app,
    wait_until,
)
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from test_browser_lessons import JS_LAYOUT

from explorer.ui import server, state

pytestmark = pytest.mark.usefixtures("app_services")  # its AppTests make the app's services

NAVIGATION = ["Home", "Train", "Latent space", "Interpolation", "Runs", "Sweep", "Class board"]


@pytest.fixture
def streamlits_own_pages_manager(monkeypatch):
    monkeypatch.setattr(PagesManager, "__init__", PagesManager.__init__.__wrapped__)
    monkeypatch.setattr(PagesManager, "uses_pages_directory", None)


def test_without_the_workaround_streamlit_runs_a_page_alone(streamlits_own_pages_manager):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.sidebar.subheader[0].value == "Current generator"  # the entry script ran
    at.switch_page("pages/runs.py").run()
    assert at.title[0].value == "Runs"
    assert not at.sidebar.subheader, "Streamlit ran streamlit_app.py for a page: the workaround may be dropped"


def test_with_the_workaround_every_page_runs_inside_the_entry(streamlits_own_pages_manager):
    server.navigation_only()
    PagesManager(str(APP), setup_watcher=False)
    assert PagesManager.uses_pages_directory is False  # a new session keeps it off


@pytest.fixture
def bad_setting(monkeypatch):
    """The app's services made anew under a bad GAN_EXPLORER_MAX_MEMORY, as a server started with it."""
    close_services()
    monkeypatch.setenv("GAN_EXPLORER_MAX_MEMORY", "8X")
    yield
    monkeypatch.undo()
    state.settings_problems.clear()


@pytest.mark.parametrize("page", PAGES)
def test_a_bad_setting_is_named_on_every_page_and_nothing_can_start(bad_setting, page):
    at = app(page, lesson="collapse")
    text = " ".join(e.value for e in at.error) + " ".join(t.value for t in at.text)
    assert "This server cannot start" in text, text
    assert "GAN_EXPLORER_MAX_MEMORY='8X' is not a size (e.g. 8G, 6000M)" in text, text
    assert not at.exception
    assert not [b for b in at.button if b.label in ("Start training", "Start this lesson")]
    assert not at.get("form")  # no setup form: nothing to start


def test_the_warm_up_with_a_bad_setting_makes_no_backend(bad_setting, monkeypatch):
    made = []
    monkeypatch.setattr(state, "registry", lambda: made.append("backend"))
    server.warm()
    assert made == []
    assert state.startup_problems() == ["GAN_EXPLORER_MAX_MEMORY='8X' is not a size (e.g. 8G, 6000M)"]


def navigation(page) -> list[str]:
    nav = page.get_by_test_id("stSidebarNav")
    nav.wait_for(state="attached", timeout=30_000)
    links = nav.get_by_test_id("stSidebarNavLink")
    return [links.nth(i).inner_text().splitlines()[-1] for i in range(links.count())]  # each: its icon, its label


@pytest.mark.browser
def test_a_fresh_plain_servers_first_request_is_a_lesson_link(chromium_browser):
    """`streamlit run streamlit_app.py`, as every Streamlit host starts it; its very first request is a teacher's
    presenter-mode lesson link, and a second tab's first request is another page: both get the whole app."""
    require_chromium()
    with StreamlitServer(log_path=output_dir() / "server-first-request.log") as plain:
        context = chromium_browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        try:
            page.goto(plain.url("/train?lesson=collapse&present=1"))  # the first request this process gets
            wait_for_app(page, timeout=90)
            assert navigation(page) == NAVIGATION  # the app's navigation, not Streamlit's file names
            assert page.get_by_text("Lesson: Mode collapse").first.is_visible()
            assert page.get_by_test_id("stSidebar").get_attribute("aria-expanded") != "true"  # presenter mode
            page.get_by_role("button", name="Start this lesson").click()
            laid_out = wait_until(lambda: (lambda m: m if m["chart"] and m["texts"] > 20 else None)(
                page.evaluate(JS_LAYOUT)), 90, "the lesson's charts drawn")
            assert laid_out["smallest"] >= 18, laid_out  # presenter mode's text sizes reach the charts
            assert_no_exception(page, "a lesson link as the first request")
            page.screenshot(path=str(output_dir() / "server-first-request-lesson.png"))
            with contextlib.suppress(Exception):
                page.get_by_role("button", name="Stop", exact=True).first.click(timeout=5_000)

            other = chromium_browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            try:
                other.goto(plain.url("/latent"))
                wait_for_app(other, timeout=60)
                assert navigation(other) == NAVIGATION
                assert "Current generator" in other.get_by_test_id("stSidebar").inner_text()
                assert "Deploy" not in other.get_by_test_id("stToolbar").inner_text()  # client.toolbarMode
                assert_no_exception(other, "a second session's first request")
            finally:
                other.context.close()
        finally:
            context.close()
