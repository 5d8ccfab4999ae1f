"""Every page runs inside streamlit_app.py's navigation and sidebar: the one Streamlit workaround of the app.

Why: Streamlit keeps its legacy multipage mode for an app with a `pages/` folder beside its entry script
until `st.navigation` has run once in the process (`PagesManager.uses_pages_directory`, decided when the
first session starts). Until then a first request for `/train` runs pages/train.py on its own, without the
entry file: no page config, no sidebar, no shared state. Upstream: streamlit/streamlit#10276 (review: "a
`pages` folder + MPAv2 ... sometimes it completely switches back to MPAv1") and #8860; Streamlit offers no
setting for it. The design keeps the `pages/` folder, so the server turns that mode off before any session
starts: `./dev app` runs `python -m explorer.ui.shell [streamlit options]`, which is `streamlit run
streamlit_app.py` with `navigation_only()` first. tests/test_shell.py fails when a Streamlit upgrade changes
this behaviour (then drop the workaround); tests/conftest.py does the same for AppTest, which resets the
flag before every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

ENTRY = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def navigation_only() -> None:
    """From now on, in this process, the app's pages run only through st.navigation in the entry script."""
    PagesManager.uses_pages_directory = False


def main(argv: list[str]) -> int:
    """`streamlit run streamlit_app.py <argv>`, in this process, with the legacy multipage mode off."""
    navigation_only()
    sys.argv = ["streamlit", "run", str(ENTRY), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
