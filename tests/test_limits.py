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


GB = 2**30


def test_limits_default_from_the_cores_and_env():
    assert Limits.from_env({}, cores=8, available=16 * GB) == Limits(
        max_jobs=8, max_run_seconds=1800, session_grace=30, torch_threads=1, max_memory=8 * GB, max_queue=None)
    two = Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "2"}, cores=8)
    assert (two.max_jobs, two.torch_threads) == (2, 3)  # the cores but one are shared out
    assert Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "1"}, cores=2).torch_threads == 1
    env = {"GAN_EXPLORER_MAX_RUN_SECONDS": "90", "GAN_EXPLORER_SESSION_GRACE": "5", "GAN_EXPLORER_TORCH_THREADS": "3",
           "GAN_EXPLORER_MAX_MEMORY": "1.5G", "GAN_EXPLORER_MAX_QUEUE": "3"}
    assert Limits.from_env(env, cores=2) == Limits(max_jobs=2, max_run_seconds=90, session_grace=5, torch_threads=3,
                                                   max_memory=3 * GB // 2, max_queue=3)
    assert Limits.from_env({"GAN_EXPLORER_MAX_MEMORY": "6000M"}, cores=2).max_memory == 6000 * 2**20
    assert 0 < Limits.from_env({}, cores=2).max_memory <= limits.available_memory()  # half of what is free now
    assert Limits(max_jobs=3).queue_cap(3) == limits.MAX_STUDENTS  # a whole class may wait
    assert Limits(max_jobs=100).queue_cap(100) == 400  # a cluster's many slots: four waiting for each
    assert Limits(max_jobs=3, max_queue=0).queue_cap(3) == 0  # GAN_EXPLORER_MAX_QUEUE decides where it is set
    with pytest.raises(ValueError, match="GAN_EXPLORER_MAX_MEMORY"):
        Limits.from_env({"GAN_EXPLORER_MAX_MEMORY": "lots"}, cores=2)
    with pytest.raises(ValueError, match="GAN_EXPLORER_MAX_JOBS"):
        Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "lots"}, cores=2)
    with pytest.raises(ValueError, match="at least 1"):
        Limits.from_env({"GAN_EXPLORER_MAX_JOBS": "0"}, cores=2)


def test_the_thread_backend_sets_torch_threads_and_the_gil_switch_for_the_process(threads):
    sys.setswitchinterval(0.005)
    ThreadBackend(Limits(max_jobs=1, torch_threads=1), watch_every=None)
    assert torch.get_num_threads() == 1
    assert sys.getswitchinterval() == pytest.approx(limits.GIL_SWITCH_SECONDS) and limits.GIL_SWITCH_SECONDS < 0.005
