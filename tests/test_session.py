"""One browser session's state without Streamlit (explorer/app/session.py): one job, the runs it leaves,
the current run."""

import pytest

from explorer.app.limits import Limits
from explorer.app.runs import Run
from explorer.app.session import MAX_RUNS, Session
from explorer.app.threads import ThreadBackend
from explorer.config import Budget, ConfigError
from explorer.nets import build
from tiny import tiny


@pytest.fixture
def backend(digits):
    made = ThreadBackend(Limits(max_jobs=2), watch_every=None, set_threads=False, data=digits)
    yield made
    made.close(wait=10)


def run_named(name: str) -> Run:
    G, D = build(tiny())
    return Run(name, tiny(), G, D, {})


def test_a_bad_setup_is_refused_before_anything_is_queued(backend):
    session = Session("s")
    with pytest.raises(ConfigError, match="batch_size"):
        session.start(backend, tiny(batch_size=600), Budget("steps", 5))
    assert session.job is None and session.run_counter == 0 and backend.stats()["queued"] == 0


def test_a_finished_job_joins_the_runs_once_and_becomes_current(backend):
    session = Session("s")
    job = session.start(backend, tiny(), Budget("steps", 5), lesson="collapse")
    assert job.name == "Run 1" and job.session_id == "s" and job.lesson == "collapse"
    assert not session.sync()  # still training: nothing to adopt yet
    assert job.wait(30)
    assert session.sync() and not session.sync()  # once
    [run] = session.runs
    assert session.current is run and run.name == "Run 1" and run.steps == 5 and run.meta["lesson"] == "collapse"
    assert run.meta["status"] == "finished" and run.history["step"][-1] == 5


def test_a_new_job_stops_the_last_one_and_numbers_itself(backend):
    session = Session("s")
    first = session.start(backend, tiny(), Budget("steps", 10**6))
    second = session.start(backend, tiny(), Budget("steps", 5), fix_of="Run 1")
    assert first.wait(10) and second.name == "Run 2 (the fix)"
    session.reset_job()
    assert session.job is None and second.wait(10)


def test_the_session_keeps_the_last_runs_and_a_current_one():
    session = Session()
    runs = [run_named(f"r{i}") for i in range(MAX_RUNS + 2)]
    for run in runs:
        session.add_run(run, make_current=False)
    assert session.runs == runs[-MAX_RUNS:]
    assert session.current is runs[0] or session.current in session.runs
    session.set_current(runs[-3])
    session.add_run(run_named("new"), make_current=False)
    assert session.current is runs[-3] and session.find("new") is session.runs[-1]
