"""Shared fixtures; nothing here runs unless a test asks for it, but `pages_through_navigation` (AppTest).

- `digits`: the embedded MNIST sample, loaded once per test session.
- `tiny_trained`, `tiny_conditional`: tiny GANs trained briefly, shared by the latent-space tests.
- `postgres_server`: a real PostgreSQL server per test module (tests/postgres_support.py); `database_url`:
  a fresh store database per test, on SQLite and on that server (skips outside CI when PostgreSQL is missing).
- `app_services`: closes the app's process-wide services (backend, run store writer, sessions) at a module's end.
- `roomy_registry`: a fresh process-wide job backend with room for four jobs, for the AppTest modules
  (which all share it, as browser sessions share one server); closed at the module's end.

Browser tests (see tests/browser_support.py):
- `streamlit_server`: one `streamlit run streamlit_app.py` per test module, on a free loopback port, its log
  in test-output/browser/streamlit.log.
- `chromium_browser`: Debian's headless Chromium, one per test module (skips outside CI when missing, fails in CI).
- `app_page`: a fresh browser context and page per test (so a fresh Streamlit session) that may only reach
  127.0.0.1; its console goes to test-output/browser/<test>.console.log and, when the test fails, a
  screenshot to <test>-failure.png. Refused and failed requests are logged there too.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import shutil
import tempfile

import leftovers
import pytest
import torch
from apptest_support import close_services
from browser_support import REPO_ROOT, StreamlitServer, launch_chromium, output_dir, require_chromium
from postgres_support import database_url, postgres_server, store  # noqa: F401 (fixtures for the store's tests)

# The app's data folder (its run store) for this test run, never the user's or a database of theirs: every server and
# AppTest of the run shares it unless a test gives its own; removed at exit, after the app's exit handlers saved.
os.environ.pop("GAN_EXPLORER_DATABASE_URL", None)
os.environ["GAN_EXPLORER_HOME"] = tempfile.mkdtemp(prefix="gan-explorer-tests-")
atexit.register(shutil.rmtree, os.environ["GAN_EXPLORER_HOME"], ignore_errors=True)

# Loopback (and inline data) only: anything else the page asks for is refused.
LOCAL_ONLY = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)[:/]|data:|blob:|about:)")
SERVER_ENV = {
    "GAN_EXPLORER_MAX_RUN_SECONDS": "180",  # no training job outlives the test run by much
    "GAN_EXPLORER_SESSION_GRACE": "5",  # a closed page stops its job soon
}


@pytest.fixture(autouse=True, scope="session")
def session_baseline():
    """What ran before any test: each module must leave no more than this (see `nothing_left_running`)."""
    return leftovers.baseline()


@pytest.fixture(autouse=True, scope="module")
def nothing_left_running(session_baseline, request):
    """Set up before, so torn down after, the module's own fixtures: whatever they or its tests started (app
    servers, Ray clusters, browsers, worker threads, jobs) must be gone by then, failing tests included. What is
    left is stopped and reported as the module's error (tests/leftovers.py)."""
    yield
    leftovers.check(session_baseline, request.module.__name__)


@pytest.fixture(autouse=True, scope="session")
def pages_through_navigation():
    """AppTest resets Streamlit's legacy-multipage flag before every run, so a switch to pages/train.py would run
    that page without streamlit_app.py. Keep every page going through st.navigation, as explorer.ui.server does
    for the server (the workaround and its upstream issue are described there)."""
    from streamlit.runtime.pages_manager import PagesManager

    from explorer.ui import server

    original = PagesManager.__init__

    @functools.wraps(original)  # init.__wrapped__ is Streamlit's own (tests/test_shell.py uses it)
    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        server.navigation_only()
    PagesManager.__init__ = init
    yield
    PagesManager.__init__ = original


@pytest.fixture(scope="session")
def warm_meter():
    """What the server does as it starts (explorer.ui.state.registry): load the quality meter's classifier and real
    statistics once, so the first job's build does not (about 4 s of CPU; a job cannot stop while it builds)."""
    from explorer import quality

    quality.warm()


@pytest.fixture(scope="session")
def digits():
    from explorer import data

    return data.load()


@pytest.fixture(scope="session")
def tiny_trained(digits):
    """A tiny GAN on digits 0 and 1, trained briefly: enough for its latent space to have structure."""
    from explorer.config import Budget
    from explorer.trainer import Trainer
    from tiny import tiny

    trainer = Trainer(tiny(digits=[0, 1], latent_dim=6, g_layers=[48], d_layers=[48]), digits)
    trainer.run(Budget("steps", 150))
    return trainer


@pytest.fixture(scope="session")
def tiny_conditional(digits):
    """A tiny conditional GAN on digits 2, 5 and 7, barely trained."""
    from explorer.config import Budget
    from explorer.trainer import Trainer
    from tiny import tiny

    trainer = Trainer(tiny(digits=[2, 5, 7], conditional=True), digits)
    trainer.run(Budget("steps", 30))
    return trainer


@pytest.fixture(scope="module")
def app_services():
    """For a module whose AppTests (or benchmarks) make the app's process-wide services: closed at its end."""
    yield
    close_services()


@pytest.fixture(scope="module")
def roomy_registry():
    from explorer.ui import state

    threads = torch.get_num_threads()
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_EXPLORER_MAX_JOBS", "4")
    state.registry.clear()
    yield
    close_services()
    mp.undo()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def streamlit_server():
    require_chromium()  # skip (or fail in CI) before paying for a server start
    if not (REPO_ROOT / "streamlit_app.py").is_file():
        pytest.fail("streamlit_app.py is missing at the repo root", pytrace=False)
    with StreamlitServer(log_path=output_dir() / "streamlit.log", env=SERVER_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def chromium_browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def watched_page(browser, request):
    """A fresh browser context and page (so a fresh Streamlit session) that may only reach 127.0.0.1; its console
    goes to test-output/browser/<test>.console.log and, when the test fails, a screenshot to <test>-failure.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, device_scale_factor=1)
    context.route(LOCAL_ONLY, lambda route: route.abort())
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    out = output_dir()
    (out / f"{name}-failure.png").unlink(missing_ok=True)  # from an earlier run
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(60_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: console.append(f"[pageerror] {e}"))
    page.on("requestfailed", lambda r: console.append(f"[requestfailed] {r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and console.append(f"[http {r.status}] {r.url}"))
    try:
        yield page
    finally:
        (out / f"{name}.console.log").write_text("\n".join(console) + "\n")
        call = getattr(request.node, "browser_rep_call", None)
        if call is not None and call.failed:
            with contextlib.suppress(Exception):  # best effort: the page may be gone
                page.screenshot(path=str(out / f"{name}-failure.png"), full_page=True)
        context.close()


@pytest.fixture
def app_page(chromium_browser, streamlit_server, request):
    """A watched page for the module's shared app server."""
    with watched_page(chromium_browser, request) as page:
        yield page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep the call-phase report on browser tests, so `app_page` knows whether to take a failure screenshot."""
    report = yield
    if report.when == "call" and item.get_closest_marker("browser"):
        item.browser_rep_call = report
    return report


SLOW_MODULES = ("test_ray_actor", "test_ray_backend", "test_app_ray", "test_ray_faults")  # each starts a Ray cluster


def pytest_collection_modifyitems(items):
    """The fast tier (`./dev test -m "not slow"`) leaves out what starts a browser, a Ray cluster or an app server:
    those tests are marked slow here, by what they use, besides the ones marked slow by hand."""
    for item in items:
        if item.get_closest_marker("browser") or item.module.__name__ in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
