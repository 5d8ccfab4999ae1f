"""Jobs and their backend without Streamlit (explorer/app/jobs.py and explorer/app/backend.py, run by the thread
backend): the cap, the queue, the run-time limit, session end, and what a job's view says."""

import pytest

from explorer.app.jobs import JobSpec
from explorer.app.limits import Limits
from explorer.app.threads import ThreadBackend
from explorer.config import Budget
from explorer.progress import Status
from tiny import tiny

pytestmark = pytest.mark.usefixtures("warm_meter")  # as the server: its first job does not load the meter

FOREVER = Budget("steps", 10**7)  # stopped by the test, never by the budget


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def job(budget=FOREVER, session="s", **cfg) -> JobSpec:
    return JobSpec(tiny(**cfg), budget, name="run", session_id=session)


def registry(digits, max_jobs=1, **kw) -> ThreadBackend:
    limits = Limits(max_jobs=max_jobs, max_run_seconds=kw.pop("max_run_seconds", 600),
                    session_grace=kw.pop("session_grace", 10))
    return ThreadBackend(limits, watch_every=kw.pop("watch_every", None), set_threads=False, data=digits, **kw)


def test_a_job_over_the_cap_waits_in_line_and_starts_when_a_slot_frees(digits):
    reg = registry(digits, max_jobs=1)
    first, second, third = (reg.submit(job()) for _ in range(3))
    assert first.view().status == Status.RUNNING
    assert [second.view().status, second.view().queue_position] == ["queued", 1]
    assert third.view().queue_position == 2
    assert reg.stats() == {"running": 1, "queued": 2, "max_jobs": 1}
    first.stop()
    assert first.wait(10) and first.view().status == Status.STOPPED
    assert second.view().status == Status.RUNNING and third.view().queue_position == 1
    third.stop()  # leaving the queue: never started
    assert third.done and third.view().status == Status.STOPPED
    assert third.progress().step == 0 and third.result() is None
    assert reg.stats()["queued"] == 0
    second.stop()
    assert second.wait(10)
    assert reg.stats() == {"running": 0, "queued": 0, "max_jobs": 1}


def test_jobs_under_the_cap_run_at_once_and_finish(digits):
    reg = registry(digits, max_jobs=2)
    a, b = reg.submit(job(Budget("steps", 20))), reg.submit(job(Budget("steps", 30), seed=1))
    assert a.wait(30) and b.wait(30)
    assert (a.view().status, a.view().step) == ("finished", 20)
    assert (b.view().status, b.view().step) == ("finished", 30)
    assert a.view().fraction == 1.0 and a.view().eta is None


def test_pause_and_resume(digits):
    reg = registry(digits, )
    j = reg.submit(job())
    j.pause()
    assert j.view().status == Status.PAUSED
    j.resume()
    assert j.view().status == Status.RUNNING
    j.stop()
    assert j.wait(10)


def test_a_job_past_the_maximum_run_time_is_stopped(digits):
    clock = Clock()
    reg = registry(digits, max_run_seconds=60, clock=clock)
    j = reg.submit(job())
    clock.now += 59
    reg.check()
    assert not j.done
    clock.now += 2
    reg.check()
    assert j.wait(10)
    view = j.view()
    assert view.status == Status.STOPPED and "longest one run may take" in view.reason and "60 seconds" in view.reason


def test_a_job_stops_when_its_session_has_been_gone_for_the_grace_period(digits):
    clock, alive = Clock(), {"mine": True, "gone": True}
    reg = registry(digits, max_jobs=1, session_grace=10, clock=clock, is_alive=lambda sid: alive[sid])
    mine = reg.submit(job(session="mine"))
    waiting = reg.submit(job(session="gone"))
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
    assert mine.view().status == Status.STOPPED and "browser session ended" in mine.view().reason


def test_a_failing_liveness_probe_keeps_jobs_running(digits):
    def broken(sid):
        raise RuntimeError("no runtime")
    clock = Clock()
    reg = registry(digits, session_grace=0, clock=clock, is_alive=broken)
    j = reg.submit(job())
    clock.now += 100
    reg.check()
    assert not j.done
    j.stop()
    assert j.wait(10)


def test_an_engine_error_fails_the_job_and_frees_its_slot(digits, monkeypatch):
    from explorer.trainer import Trainer

    monkeypatch.setattr(Trainer, "run", lambda self, budget, on_step=None: 1 / 0)
    reg = registry(digits, max_jobs=1)
    bad = reg.submit(job())
    assert bad.wait(10)
    assert bad.view().status == Status.FAILED and "division by zero" in bad.view().reason
    assert reg.stats()["running"] == 0


def test_a_watchdog_thread_does_the_checks(digits):
    reg = registry(digits, max_run_seconds=0.5, watch_every=0.05)
    j = reg.submit(job())
    assert j.wait(10), "the watchdog should stop a job past its time"
    assert "longest one run" in j.view().reason
    reg.close()


def test_closing_the_registry_stops_running_and_queued_jobs_and_waits_for_them(digits):
    reg = registry(digits, max_jobs=1)
    running, waiting = reg.submit(job()), reg.submit(job())
    reg.close(wait=10)
    assert running.done and waiting.done  # close() waited: no thread is left mid-step
    assert running.view().status == Status.STOPPED and "shutting down" in running.view().reason
    assert waiting.progress().step == 0 and reg.stats()["running"] == 0
