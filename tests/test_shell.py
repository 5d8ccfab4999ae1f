"""The app's one Streamlit workaround (explorer/ui/shell.py): pages always run inside streamlit_app.py.

If a Streamlit upgrade stops reading a `pages/` folder as a legacy multipage app, the first test fails: then
the workaround can go (see explorer/ui/shell.py for the upstream issues)."""

import pytest
from apptest_support import APP
from browser_support import StreamlitServer, output_dir, wait_for_app
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from explorer.ui import shell

pytestmark = pytest.mark.usefixtures("app_services")  # its AppTests make the app's services


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
    shell.navigation_only()
    PagesManager(str(APP), setup_watcher=False)
    assert PagesManager.uses_pages_directory is False  # a new session keeps it off


@pytest.mark.browser
def test_a_fresh_servers_first_request_for_a_page_gets_the_whole_app(chromium_browser):
    with StreamlitServer(log_path=output_dir() / "shell-streamlit.log") as server:
        page = chromium_browser.new_page()
        try:
            page.goto(server.url("/runs"))  # the very first request to this process, for a page
            wait_for_app(page)
            assert page.get_by_role("heading", name="Runs").first.is_visible()
            assert "Current generator" in page.get_by_test_id("stSidebar").inner_text()
        finally:
            page.close()
