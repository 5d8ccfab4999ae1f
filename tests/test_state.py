"""The session's state and the server's backend as the views keep them (explorer/ui/state.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # many seconds: the fast tier leaves it out
def test_a_process_that_makes_the_registry_and_exits_at_once_exits_cleanly():
    """The registry's background warm-up runs torch ops; killed mid-way at exit, it aborted the process (134)."""
    script = "from explorer.ui import state; state.registry().close(); print('closed')"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr[-2000:]
