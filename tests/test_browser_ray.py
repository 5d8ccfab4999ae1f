"""The real-browser test of the Train page (tests/test_browser.py: start, the charts move, pause and resume, stop,
the current model, reset), run again against a Streamlit server whose jobs train on a Ray cluster
(GAN_EXPLORER_RAY_ADDRESS), a two-node cluster on this machine that this module starts and stops."""

from __future__ import annotations

import pytest
import ray_support  # noqa: F401 - first: sets Ray's token authentication before ray is imported
from browser_support import StreamlitServer, output_dir, require_chromium
from conftest import SERVER_ENV
from ray_support import local_cluster
from test_browser import test_train_start_watch_stop  # noqa: F401 - collected here with this module's server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def streamlit_server():
    """This module's server (it stands in for conftest's): the app with its jobs on the test cluster."""
    require_chromium()
    with local_cluster() as cluster, StreamlitServer(
            log_path=output_dir() / "streamlit-ray.log",
            env={**SERVER_ENV, "GAN_EXPLORER_RAY_ADDRESS": cluster.address}) as server:
        yield server
