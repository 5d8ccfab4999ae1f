"""One browser session's state without Streamlit (explorer/app/session.py): one job, the runs it leaves,
the current run."""

import pytest

from explorer.app.limits import Limits
from explorer.app.runs import Run
from explorer.app.session import MAX_RUNS, Session, Sessions
from explorer.app.threads import ThreadBackend
from explorer.config import Budget, ConfigError
from explorer.nets import build
from tiny import tiny

pytestmark = pytest.mark.usefixtures("warm_meter")  # as the server: its first job does not load the meter


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


def test_a_lessons_fix_becomes_current_in_place_of_the_run_it_fixes_and_any_other_run_is_offered(backend):
    session = Session("s")
    assert session.start(backend, tiny(), Budget("steps", 5), lesson="collapse").wait(30)
    session.sync()
    broken = session.current
    assert session.start(backend, tiny(), Budget("steps", 5), lesson="collapse", fix_of=broken.name).wait(30)
    assert session.sync()
    assert session.current.name == "Run 2 (the fix)" and session.offer is None  # where the student looks next
    session.set_current(broken)  # the student goes back to the broken one on purpose: a new run is only offered
    assert session.start(backend, tiny(), Budget("steps", 5)).wait(30) and session.sync()
    assert session.current is broken and session.offer.name == "Run 3"


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


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_token_finds_its_session_again_and_tokens_are_unguessable():
    store = Sessions()
    first = store.new("tab-1")
    assert len(first.token) >= 20 and store.new("tab-2").token != first.token
    assert store.find(first.token, "tab-3") is first  # a reload: a new tab, the same session
    assert store.find("no-such-token", "tab-4") is None


def test_a_session_lives_while_any_of_its_tabs_does_and_is_let_go_after_its_keep_time(backend):
    clock, open_tabs = Clock(), {"tab-1", "tab-2"}
    store = Sessions(is_active=lambda tab: tab in open_tabs, keep_seconds=60, clock=clock)
    session = store.new("tab-1")
    store.find(session.token, "tab-2")  # the reload's tab
    job = session.start(backend, tiny(), Budget("steps", 10**6))
    open_tabs.discard("tab-1")  # the old tab closed: the session lives on in the new one
    assert store.alive(session.token) and store.let_go() == 0
    open_tabs.clear()  # every tab gone
    assert not store.alive(session.token)
    store.let_go()
    clock.now += 59
    assert store.let_go() == 0 and store.find(session.token) is session  # kept a while, for a returning student
    clock.now += 2
    assert store.let_go() == 1 and store.find(session.token) is None
    assert job.wait(10)  # its job stopped with it


def test_past_its_cap_the_store_lets_the_longest_gone_sessions_go_first():
    clock = Clock()
    store = Sessions(is_active=lambda tab: False, keep_seconds=10**6, max_sessions=2, clock=clock)
    tokens = []
    for _ in range(4):
        tokens.append(store.new("gone").token)
        store.let_go()
        clock.now += 1
    assert len(store) <= 3 and store.find(tokens[-1]) is not None and store.find(tokens[0]) is None
