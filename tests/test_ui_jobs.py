"""The job registry without Streamlit: the cap, the queue, the run-time limit, session end, threads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer import data
from explorer.training import Budget, Trainer
from explorer.ui import jobs
from explorer.ui.jobs import Job, JobRegistry, Limits
from tiny import tiny

FOREVER = Budget("steps", 10**7)  # stopped by the test, never by the budget


@pytest.fixture(scope="module")
def digits():
    return data.load()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def threads():
    before, switch = torch.get_num_threads(), sys.getswitchinterval()
    yield
    torch.set_num_threads(before)
    sys.setswitchinterval(switch)


def job(digits, budget=FOREVER, session="s", clock=None, **cfg):
    kwargs = {"clock": clock} if clock else {}
    return Job(Trainer(tiny(**cfg), digits), budget, session_id=session, name="run", **kwargs)


def registry(max_jobs=1, **kw):
    limits = Limits(max_jobs=max_jobs, max_run_seconds=kw.pop("max_run_seconds", 600),
                    session_grace=kw.pop("session_grace", 10))
    return JobRegistry(limits, watch_every=None, set_threads=False, **kw)


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


def test_the_registry_sets_torch_threads_and_the_gil_switch_for_the_process(threads):
    sys.setswitchinterval(0.005)
    JobRegistry(Limits(max_jobs=1, torch_threads=1), watch_every=None)
    assert torch.get_num_threads() == 1
    assert sys.getswitchinterval() == pytest.approx(jobs.GIL_SWITCH_SECONDS) and jobs.GIL_SWITCH_SECONDS < 0.005


def test_a_job_over_the_cap_waits_in_line_and_starts_when_a_slot_frees(digits):
    reg = registry(max_jobs=1)
    first, second, third = (reg.submit(job(digits)) for _ in range(3))
    assert first.view().status == "running"
    assert [second.view().status, second.view().queue_position] == ["queued", 1]
    assert third.view().queue_position == 2
    assert reg.stats() == {"running": 1, "queued": 2, "max_jobs": 1}
    first.stop()
    assert first.wait(10) and first.view().status == "stopped"
    assert second.view().status == "running" and third.view().queue_position == 1
    third.stop()  # leaving the queue: never started
    assert third.done and third.view().status == "stopped" and third.trainer.step_count == 0
    assert reg.stats()["queued"] == 0
    second.stop()
    assert second.wait(10)
    assert reg.stats() == {"running": 0, "queued": 0, "max_jobs": 1}


def test_jobs_under_the_cap_run_at_once_and_finish(digits):
    reg = registry(max_jobs=2)
    a, b = reg.submit(job(digits, Budget("steps", 20))), reg.submit(job(digits, Budget("steps", 30), seed=1))
    assert a.wait(30) and b.wait(30)
    assert (a.view().status, a.view().step) == ("finished", 20)
    assert (b.view().status, b.view().step) == ("finished", 30)
    assert a.view().fraction == 1.0 and a.view().eta is None


def test_pause_and_resume(digits):
    reg = registry()
    j = reg.submit(job(digits))
    j.pause()
    assert j.view().status == "paused"
    j.resume()
    assert j.view().status == "running"
    j.stop()
    assert j.wait(10)


def test_a_job_past_the_maximum_run_time_is_stopped(digits):
    clock = Clock()
    reg = registry(max_run_seconds=60, clock=clock)
    j = reg.submit(job(digits, clock=clock))
    clock.now += 59
    reg.check()
    assert not j.done
    clock.now += 2
    reg.check()
    assert j.wait(10)
    view = j.view()
    assert view.status == "stopped" and "longest one run may take" in view.reason and "60 seconds" in view.reason


def test_a_job_stops_when_its_session_has_been_gone_for_the_grace_period(digits):
    clock, alive = Clock(), {"mine": True, "gone": True}
    reg = registry(max_jobs=1, session_grace=10, clock=clock, is_alive=lambda sid: alive[sid])
    mine = reg.submit(job(digits, session="mine", clock=clock))
    waiting = reg.submit(job(digits, session="gone", clock=clock))
    alive["mine"] = alive["gone"] = False
    reg.check()
    clock.now += 5
    alive["mine"] = True  # a reconnect within the grace period keeps the job
    reg.check()
    clock.now += 6
    reg.check()
    assert not mine.done
    assert waiting.done and "session ended" in waiting.view().reason  # the queue drops it too
    alive["mine"] = False
    reg.check()
    clock.now += 10
    reg.check()
    assert mine.wait(10)
    assert mine.view().status == "stopped" and "browser session ended" in mine.view().reason


def test_a_failing_liveness_probe_keeps_jobs_running(digits):
    def broken(sid):
        raise RuntimeError("no runtime")
    clock = Clock()
    reg = registry(session_grace=0, clock=clock, is_alive=broken)
    j = reg.submit(job(digits, clock=clock))
    clock.now += 100
    reg.check()
    assert not j.done
    j.stop()
    assert j.wait(10)


def test_an_engine_error_fails_the_job_and_frees_its_slot(digits):
    reg = registry(max_jobs=1)
    bad = job(digits)
    bad.trainer.run = lambda budget, on_step=None: 1 / 0
    reg.submit(bad)
    assert bad.wait(10)
    assert bad.view().status == "failed" and "division by zero" in bad.view().reason
    assert reg.stats()["running"] == 0


def test_a_watchdog_thread_does_the_checks(digits):
    reg = JobRegistry(Limits(max_jobs=1, max_run_seconds=0.5), watch_every=0.05, set_threads=False)
    j = reg.submit(job(digits))
    assert j.wait(10), "the watchdog should stop a job past its time"
    assert "longest one run" in j.view().reason
    reg.close()


def test_closing_the_registry_stops_running_and_queued_jobs_and_waits_for_them(digits):
    reg = registry(max_jobs=1)
    running, waiting = reg.submit(job(digits)), reg.submit(job(digits))
    reg.close(wait=10)
    assert running.done and waiting.done  # close() waited: no thread is left mid-step
    assert running.view().status == "stopped" and "shutting down" in running.view().reason
    assert waiting.trainer.step_count == 0 and reg.stats()["running"] == 0


def test_a_process_that_makes_the_registry_and_exits_at_once_exits_cleanly():
    """The registry's background warm-up runs torch ops; killed mid-way at exit, it aborted the process (134)."""
    script = "from explorer.ui import state; state.registry().close(); print('closed')"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr[-2000:]
