"""What the app's server does once, as it starts, before it answers anyone: the settings check, the one Streamlit
workaround, and warming what every first page needs.

How it runs: streamlit_app.py defines `app = st.App(__file__, lifespan=server.lifespan)`. Plain `streamlit run
streamlit_app.py` finds that App (Streamlit's supported ASGI entry), serves it, and runs `lifespan` before the
first request; every session then runs the same file as its script, the navigation over pages/.

The workaround: Streamlit keeps its legacy multipage mode for an app with a `pages/` folder beside its entry
script until `st.navigation` has run once in the process (`PagesManager.uses_pages_directory`, decided when the
first session starts). Until then a first request for `/train` runs pages/train.py on its own, without the entry
file: no page config, no sidebar, no shared state. Upstream: streamlit/streamlit#10276 (review: "a `pages` folder
+ MPAv2 ... sometimes it completely switches back to MPAv1") and #8860; Streamlit offers no setting for it. The
design keeps the `pages/` folder, so the lifespan turns that mode off before any session starts.
tests/test_server.py fails when a Streamlit upgrade changes this behaviour (then drop `navigation_only`);
tests/conftest.py does the same for AppTest, which resets the flag before every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import AsyncIterator

from streamlit.runtime.pages_manager import PagesManager

from . import state

log = logging.getLogger(__name__)

# The views the pages import, imported by the warm-up so that no student's first page pays for them (torch and
# the views take about 3.5 s of a cold start on this project's 2-core machines).
VIEWS = ("clickable", "drawing", "explore", "form", "live", "presenter", "push_view", "sidebar", "teach",
         "visuals", "widgets")
# What the views import late, on a page's first chart or table: imported here, before any session, because two
# sessions importing it at once can each find it half made ("partially initialized module 'pandas'", seen when a
# class of ten opened their pages together). Streamlit's emoji table compiles one large pattern on the first
# st.set_page_config with an emoji icon: 0.3 s of the first page after a start.
LATE_IMPORTS = ("pandas", "plotly.graph_objects", "plotly.io", "streamlit.emojis")


def navigation_only() -> None:
    """From now on, in this process, the app's pages run only through st.navigation in the entry script."""
    PagesManager.uses_pages_directory = False


@contextlib.asynccontextmanager
async def lifespan(_app) -> AsyncIterator[None]:
    """The server's start (before the first request is answered) and its stop (after the last is answered)."""
    navigation_only()
    await asyncio.to_thread(warm)
    yield
    await asyncio.to_thread(state.stop)  # jobs end between two steps, and their last step is saved


def warm() -> None:
    """Check the settings, open the run store and the job backend, load the default data and the views: what every
    first page needs. A problem is logged here and shown on every page (explorer.ui.sidebar); nothing trains."""
    started = time.monotonic()
    for name in (*LATE_IMPORTS, *(f"{__package__}.{view}" for view in VIEWS)):
        try:
            importlib.import_module(name)
        except Exception:  # the page that imports it will show the error where it matters
            log.exception("%s could not be imported", name)
    problems = state.startup_problems()
    for problem in problems:
        log.error("This server cannot start: %s", problem)
    if not problems:
        state.default_data_description()
    log.info("GAN Explorer is ready to serve (warmed in %.1f s)%s", time.monotonic() - started,
             "" if not problems else "; every page says what is wrong with its settings")
