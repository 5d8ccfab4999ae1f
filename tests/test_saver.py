"""Runs that outlive the server (explorer/app/saver.py and explorer/app/restore.py), on SQLite and PostgreSQL: a
session's runs are written while they train, and a new server on the same store brings the session back: finished
runs whole, the run that was training stopped by the restart, and training goes on from its last save."""

from __future__ import annotations

import gc

import pytest
import torch

from explorer import memory
from explorer.app import continuation, threads
from explorer.app.jobs import JobSpec
from explorer.app.limits import Limits
from explorer.app.restore import RestoredJob
from explorer.app.runs import Run
from explorer.app.saver import Saver
from explorer.app.session import Sessions
from explorer.app.store import RunStore, StoreError
from explorer.app.store.schema import WeightsRow
from explorer.app.threads import ThreadBackend
from explorer.config import Budget
from explorer.progress import Status
from tiny import tiny, wait_until

pytestmark = pytest.mark.usefixtures("warm_meter")  # as the server: its first job does not load the meter

FOREVER = Budget("steps", 10**7)


class Server:
    """One app server's services, as explorer.ui.state makes them: its backend, its sessions and its saver (whose
    rounds the tests run themselves), on the store at `url`."""

    def __init__(self, url: str, digits):
        self.store = RunStore.open(url)
        self.backend = ThreadBackend(Limits(max_jobs=2), watch_every=None, set_threads=False, data=digits)
        self.sessions = Sessions(restore=lambda token: self.saver.restore(token))
        self.saver = Saver(self.store, self.sessions.all, every=None, weights_every=0.0)

    def crash(self) -> None:
        """As `kill -9` leaves it: nothing more is written (the jobs are stopped only to free the CPU)."""
        self.saver.closing = True
        self.backend.close(wait=10)
        self.store.close()

    def stop(self) -> None:
        """A clean stop: the backend stops its jobs, then the saver's last round."""
        self.backend.close(wait=10)
        self.saver.close()


@pytest.fixture
def servers(database_url, digits, monkeypatch):
    monkeypatch.setattr(threads, "FIRST_WEIGHTS_SECONDS", 0.0)  # a copy of the weights every step, not every 30 s
    monkeypatch.setattr(threads, "WEIGHTS_SECONDS", 0.0)
    made: list[Server] = []

    def start() -> Server:
        made.append(Server(database_url, digits))
        return made[-1]

    yield start
    for server in made:
        server.backend.close(wait=10)
        server.store.close()


def finished_run(server: Server, steps: int = 20):
    session = server.sessions.new()
    job = session.start(server.backend, tiny(), Budget("steps", steps))
    assert job.wait(60)
    session.sync()
    assert server.saver.save_now()
    return session


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_finished_run_comes_back_whole_after_a_crash(servers):
    first = servers()
    session = finished_run(first)
    run = session.current
    first.crash()

    second = servers()
    back = second.sessions.find(session.token)
    assert back is not None and back is not session and [r.name for r in back.runs] == ["Run 1"]
    again = back.current
    assert again.name == run.name and again.cfg == run.cfg and again.history == run.history
    assert same_weights(again.G, run.G) and same_weights(again.D, run.D)
    z = torch.randn(16, run.cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(again.G(z), run.G(z))  # the same samples
    assert [s.step for s in again.snapshots] == [s.step for s in run.snapshots]
    assert torch.equal(again.snapshots[-1].images, run.snapshots[-1].images)
    assert back.run_counter == 1 and back.job is None
    assert second.sessions.find("not-a-token") is None


def test_a_run_training_at_a_crash_is_stopped_by_the_restart_and_goes_on_from_its_last_save(servers):
    first = servers()
    session = first.sessions.new()
    job = session.start(first.backend, tiny(), FOREVER)
    wait_until(lambda: job.last_weights is not None and job.last_weights.step >= 5, 30, "a copy of the weights")
    assert first.saver.save_now()
    saved_at = first.saver._jobs[job.spec.key].weights_step
    first.saver.weights_every = 1e9  # from now on the charts are saved, the weights not (their half minute)
    wait_until(lambda: job.view().step > saved_at + 3, 30, "more steps")
    assert first.saver.save_now()
    first.crash()

    second = servers()
    back = second.sessions.find(session.token)
    lost = back.job
    assert isinstance(lost, RestoredJob) and lost.done and lost.lost
    view = lost.view()
    assert view.status == Status.STOPPED and view.reason.startswith("Stopped by a server restart at step ")
    weights = lost.resume_point()
    assert weights is not None and weights.step == saved_at and view.step > saved_at + 3
    assert view.history["step"] and view.history["step"][-1] >= weights.step  # its charts up to its last save
    carried = continuation.continue_lost(back, second.backend)
    wait_until(lambda: carried.view().step > weights.step + 2, 30, "the continuation to train")
    steps = carried.view().history["step"]
    assert steps[0] == 1 and max(steps) > weights.step and steps == sorted(steps)  # one chart, on from the save
    assert [r.name for r in back.runs] == ["Run 1"]  # the stopped run, its last saved weights
    assert carried.name == "Run 2 (continues Run 1)" and back.run_counter == 2
    carried.stop()
    assert carried.wait(30)
    assert second.saver.save_now()
    names = [s.name for s in second.store.runs_of(session.token)]
    assert names == ["Run 1", "Run 2 (continues Run 1)"]  # nothing written twice


def test_a_clean_stop_saves_the_latest_step_of_every_running_job(servers):
    first = servers()
    sessions = [first.sessions.new() for _ in range(2)]
    jobs = [s.start(first.backend, tiny(seed=i), FOREVER) for i, s in enumerate(sessions)]
    wait_until(lambda: all(j.view().step >= 3 for j in jobs), 30, "both jobs training")
    first.stop()
    ends = [j.view().step for j in jobs]

    second = servers()
    for session, end in zip(sessions, ends):
        lost = second.sessions.find(session.token).job
        assert isinstance(lost, RestoredJob)
        assert lost.view().reason == f"Stopped by a server restart at step {end:,}."
        assert lost.resume_point().step == end  # its very last step, not the last half-minute copy


def test_an_uploaded_run_is_kept_and_stays_current(servers, tiny_trained):
    first = servers()
    session = finished_run(first)
    model = tiny_trained.trained_model(name="mine")
    upload = Run("Uploaded mine.safetensors", model.cfg, model.G, model.D, model.meta, source="uploaded")
    session.add_run(upload)
    assert first.saver.save_now()
    first.crash()
    back = servers().sessions.find(session.token)
    assert [r.name for r in back.runs] == ["Run 1", "Uploaded mine.safetensors"]
    assert back.current.name == "Uploaded mine.safetensors" and same_weights(back.current.G, model.G)


def two_finished_runs(server: Server):
    """A session with Run 1 (current) and Run 2 (offered), both saved whole."""
    session = finished_run(server)
    session.start(server.backend, tiny(seed=1), Budget("steps", 10)).wait(60)
    session.sync()
    assert server.saver.save_now()
    return session


def test_a_run_whose_weights_were_altered_is_named_and_the_rest_come_back(servers):
    first = servers()
    session = two_finished_runs(first)
    first_id = first.saver.ids[session.runs[0].key]
    with first.store._db() as db:
        row = db.query(WeightsRow).filter_by(run_id=first_id, kind="final").one()
        row.data = bytes(row.data[:-8]) + b"\x00" * 8
    first.crash()
    back = servers().sessions.find(session.token)
    # Restored without their weights (read when a page asks): Run 1's are refused then, Run 2's come back whole
    assert [r.name for r in back.runs] == ["Run 1", "Run 2"] and not back.notes
    with pytest.raises(StoreError, match="checksum"):
        back.runs[0].G  # noqa: B018
    assert same_weights(back.runs[1].G, session.runs[1].G)


def test_a_restored_session_reads_its_weights_when_a_page_asks_and_admission_counts_them(servers):
    first = servers()
    session = two_finished_runs(first)
    first.crash()

    second = servers()
    second.saver.book_nets = second.backend.kept.book_nets  # as explorer.ui.state.registry joins them
    back = second.sessions.find(session.token)
    assert [r.name for r in back.runs] == ["Run 1", "Run 2"] and not any(r.in_memory for r in back.runs)
    assert second.backend.kept.bytes() == 0  # nothing read yet: a class reloading after a restart reads records
    assert same_weights(back.current.G, session.current.G)
    assert back.current.in_memory and second.backend.kept.bytes() == memory.kept_bytes(back.current.cfg)
    earlier, other = back.current, next(r for r in back.runs if r is not back.current)
    assert second.saver.save_now()  # the current run stays in memory; the other was never read
    assert earlier.in_memory and not other.in_memory
    back.set_current(other)
    assert same_weights(other.G, next(r for r in session.runs if r.name == other.name).G)
    assert second.saver.save_now() and not earlier.in_memory  # no longer current: back to the store
    wait_until(lambda: gc.collect() >= 0 and second.backend.kept.bytes() == memory.kept_bytes(other.cfg), 10,
               "the first run's nets to drop out of admission once they went back to the store")


def test_a_run_with_no_saved_weights_is_named_and_not_restored(servers):
    first = servers()
    session = finished_run(first)
    run_id = first.saver.ids[session.runs[0].key]
    with first.store._db() as db:
        db.query(WeightsRow).filter_by(run_id=run_id).delete()
    first.crash()
    back = servers().sessions.find(session.token)
    assert back.runs == [] and back.current is None
    assert back.notes and "Run 1" in back.notes[0] and "no saved weights" in back.notes[0]


def test_training_goes_on_while_the_database_is_away_and_the_store_catches_up(digits, postgres_server,
                                                                              monkeypatch):
    monkeypatch.setattr(threads, "FIRST_WEIGHTS_SECONDS", 0.0)
    server = Server(postgres_server.new_database(), digits)
    try:
        session = server.sessions.new()
        job = session.start(server.backend, tiny(), FOREVER)
        wait_until(lambda: job.view().step >= 3, 30, "a few steps")
        assert server.saver.save_now() and server.saver.problem == ""
        postgres_server.stop()
        try:
            at = job.view().step
            assert not server.saver.save_now()
            assert "cannot be reached" in server.saver.problem or "failed" in server.saver.problem
            wait_until(lambda: job.view().step > at + 5, 30, "training to go on")
        finally:
            postgres_server.start()
        wait_until(server.saver.save_now, 30, "the store to answer again", every=0.5)
        assert server.saver.problem == ""
        job.pause()
        assert job.wait_paused()
        assert server.saver.save_now()
        stored = server.store.runs_of(session.token)[-1]
        assert stored.step == job.view().step and stored.status == "paused"  # caught up
    finally:
        server.backend.close(wait=10)
        server.store.close()


def test_finished_runs_in_the_store_no_longer_hold_the_queue(servers):
    server = servers()
    session = server.sessions.new()
    for _ in range(2):  # Run 1, then Run 2: made current, so Run 1 is neither current nor offered
        assert session.start(server.backend, tiny(), Budget("steps", 10)).wait(60)
        session.sync()
    session.set_current(session.runs[-1])
    first = session.runs[0]
    before = {k: v.clone() for k, v in first.G.state_dict().items()}
    spec_memory = tiny().replace(seed=3)
    kept = memory.kept_bytes(tiny())
    server.backend.job_memory = server.backend.memory_in_use() - kept // 2 + JobSpec(spec_memory, FOREVER).memory
    waiting = session.start(server.backend, spec_memory, FOREVER)
    assert waiting.queued, "admitted while both finished runs are held in memory"
    assert server.saver.save_now() and not first.in_memory and session.runs[-1].in_memory
    wait_until(lambda: gc.collect() >= 0 and server.backend.check() is None and not waiting.queued, 10,
               "the waiting job to be admitted once Run 1 went back to the store")
    with torch.no_grad():  # a page asks for it: back from the store, the same weights
        assert all(torch.equal(v, before[k]) for k, v in first.G.state_dict().items()) and first.in_memory
    waiting.stop()
    assert waiting.wait(30)


def test_a_full_disk_warns_corrupts_nothing_and_the_store_catches_up(tmp_path, digits, monkeypatch):
    """A full disk, as SQLite meets it (SQLITE_FULL: here by capping the file's pages): the round fails with a
    problem to show, training goes on, what was saved stays whole, and the next round with room catches up."""
    from sqlalchemy import event

    monkeypatch.setattr(threads, "FIRST_WEIGHTS_SECONDS", 0.0)
    monkeypatch.setattr(threads, "WEIGHTS_SECONDS", 0.0)
    server = Server(f"sqlite:///{tmp_path / 'runs.sqlite'}", digits)
    try:
        session = finished_run(server, steps=10)
        job = session.start(server.backend, tiny(seed=1), FOREVER)
        wait_until(lambda: job.view().step >= 3, 30, "a few steps")

        def full(connection, _):
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {pages}")  # not one page more

        event.listen(server.store.engine, "connect", full)
        server.store.engine.dispose()
        at = job.view().step
        assert not server.saver.save_now()
        assert "full" in server.saver.problem, server.saver.problem
        wait_until(lambda: job.view().step > at + 3, 30, "training to go on")
        event.remove(server.store.engine, "connect", full)
        server.store.engine.dispose()
        assert server.saver.save_now() and server.saver.problem == ""
        job.pause()
        assert job.wait_paused() and server.saver.save_now()
        assert server.store.runs_of(session.token)[-1].step == job.view().step  # caught up
        again = server.store.load_run(server.saver.ids[session.runs[0].key], session.token)
        assert same_weights(again.G, session.runs[0].G)  # what was saved before stays whole
    finally:
        server.backend.close(wait=10)
        server.store.close()
