"""Make every page run inside streamlit_app.py's navigation and sidebar.

Streamlit keeps its old multipage mode for an app with a `pages/` folder until `st.navigation` has
run once in the process: until then a request for `/train` runs pages/train.py on its own, without
the entry file (no page config, no sidebar, no shared state sync). AppTest resets that flag on every
run. `ensure_entry()`, the first line of each page, turns the flag off and runs the entry file in
its place, which runs the page again, inside the shell; then it stops the stray run. No rerun, so
a button press that caused this run is not lost.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

ENTRY = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def ensure_entry() -> None:
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(ENTRY), run_name="__main__")
        st.stop()
