"""The server's limits from its environment, and the process settings they make (explorer/app/limits.py)."""

import sys

import pytest
import torch

from explorer.app import limits
from explorer.app.limits import Limits
from explorer.app.threads import ThreadBackend


@pytest.fixture
def threads():
    before, switch = torch.get_num_threads(), sys.getswitchinterval()
    yield
    torch.set_num_threads(before)
    sys.setswitchinterval(switch)


def test_limits_default_from_the_cores_and_env():
    assert Limits.from_env({}, cores=8) == Limits(max_jobs=8, max_run_seconds=1800, session_grace=30, torch_threads=1)
    two = Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "2"}, cores=8)
    assert (two.max_jobs, two.torch_threads) == (2, 3)  # the cores but one are shared out
    assert Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "1"}, cores=2).torch_threads == 1
    env = {"GAN_EXPLORER_MAX_RUN_SECONDS": "90", "GAN_EXPLORER_SESSION_GRACE": "5", "GAN_EXPLORER_TORCH_THREADS": "3"}
    assert Limits.from_env(env, cores=2) == Limits(max_jobs=2, max_run_seconds=90, session_grace=5, torch_threads=3)
    with pytest.raises(ValueError, match="GAN_EXPLORER_MAX_JOBS"):
        Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "lots"}, cores=2)
    with pytest.raises(ValueError, match="at least 1"):
        Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "0"}, cores=2)


def test_the_thread_backend_sets_torch_threads_and_the_gil_switch_for_the_process(threads):
    sys.setswitchinterval(0.005)
    ThreadBackend(Limits(max_jobs=1, torch_threads=1), watch_every=None)
    assert torch.get_num_threads() == 1
    assert sys.getswitchinterval() == pytest.approx(limits.GIL_SWITCH_SECONDS) and limits.GIL_SWITCH_SECONDS < 0.005
