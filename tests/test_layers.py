"""The layers are enforced: an import that goes up (engine -> services -> views) fails `ruff check`, which
`.ci/run` runs before the tests. Each case lints a one-line module as if it stood at that path."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BREAKS = [  # (where the module would stand, what it imports): each must fail
    ("explorer/probe.py", "import streamlit"),
    ("explorer/probe.py", "from streamlit.runtime import Runtime"),
    ("explorer/probe.py", "from .ui import state"),
    ("explorer/probe.py", "from explorer.app import jobs"),
    ("explorer/app/probe.py", "import streamlit as st"),
    ("explorer/app/probe.py", "from ..ui import state"),
    ("explorer/app/probe.py", "from ..bench import quality"),
    ("explorer/app/store/probe.py", "import streamlit"),  # the run store is a service too
    ("explorer/app/store/probe.py", "from explorer.ui import state"),
    ("explorer/bench/probe.py", "from ..ui import live"),
    ("explorer/bench/probe.py", "import streamlit"),
    ("explorer/commands/probe.py", "import streamlit"),
    ("explorer/commands/probe.py", "from ..ui import state"),
]
ALLOWED = [
    ("explorer/probe.py", "from . import config"),
    ("explorer/app/probe.py", "from .. import config"),
    ("explorer/app/probe.py", "from . import jobs"),
    ("explorer/bench/probe.py", "from ..app import jobs"),
    ("explorer/commands/probe.py", "from ..app import sweeps"),
    ("explorer/ui/probe.py", "import streamlit as st\nfrom ..app import jobs"),
    ("pages/probe.py", "import streamlit as st\nfrom explorer.ui import state"),
]


def lint(path: str, source: str) -> subprocess.CompletedProcess:
    code = source + "\n\nprint(" + ", ".join(line.split()[-1] for line in source.splitlines()) + ")\n"
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251",
                           "--stdin-filename", path, "-"], input=code, text=True, capture_output=True, cwd=ROOT)


@pytest.mark.parametrize("path, source", BREAKS)
def test_an_import_that_goes_up_fails_the_lint(path, source):
    done = lint(path, source)
    assert done.returncode != 0 and "TID251" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("path, source", ALLOWED)
def test_imports_that_go_down_pass(path, source):
    done = lint(path, source)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_lints_before_it_tests():
    script = (ROOT / "dev").read_text()
    test_part = script[script.index("  test)"):]
    assert test_part.index("ruff check .") < test_part.index("pytest")
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()
