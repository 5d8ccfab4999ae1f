"""The run store (explorer/app/store): runs saved and read back whole, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
import torch
from sqlalchemy import select, text, update

from explorer.app.runs import Run
from explorer.app.store import RunGone, RunStore, StoreError, StoreSettings, token_hash
from explorer.app.store.schema import SessionRow, WeightsRow
from explorer.config import Budget
from explorer.progress import Change, Status
from explorer.trainer import Trainer
from tiny import tiny

TOKEN = "tok3n-Secret-abcdefghij"


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny run with a live change, quality readings and snapshots (push maps on the newest two)."""
    trainer = Trainer(tiny(), digits, measure=True)
    trainer.update(g_lr=0.0005)
    trainer.run(Budget("steps", 30))
    return trainer


def run_of(trainer, name: str = "Run 1") -> Run:
    model = trainer.trained_model(name=name)
    p = trainer.state()
    return Run(name, model.cfg, model.G, model.D, model.meta, p.history.columns(), list(p.snapshots),
               readings=list(p.readings))


def save_whole(store: RunStore, trainer, token: str = TOKEN, name: str = "Run 1") -> int:
    run = run_of(trainer, name)
    run_id = store.create_run(token, run, status=Status.RUNNING, lesson="lr-too-high")
    store.save_progress(run_id, trainer.state())
    store.save_weights(run_id, "final", run.cfg, run.G, run.D, run.meta)
    return run_id


def assert_same_nets(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def test_round_trip_is_whole(store, trained):
    p = trained.state()
    assert p.readings and p.changes and len(p.snapshots) > 2 and p.snapshots[-1].push is not None  # all to check
    run = run_of(trained)
    run_id = save_whole(store, trained)
    nudge = Change(p.step, "D step")
    store.save_record(run_id, Status.FINISHED, "", p.step, p.history.columns(), p.readings, p.changes, [nudge],
                      p.snapshots, p.settings)

    back = store.load_run(run_id, TOKEN)
    assert back.name == run.name and back.source == "trained"
    assert back.cfg.to_dict() == run.cfg.to_dict() and back.cfg.live_changes  # the live change is recorded
    assert back.meta == run.meta
    assert back.history == run.history and len(back.history["step"]) == len(run.history["step"]) > 0
    assert_same_nets(back.G, run.G)
    assert_same_nets(back.D, run.D)
    assert len(back.readings) == len(p.readings)
    for mine, theirs in zip(back.readings, p.readings):
        for field in ("step", "seconds", "read_as", "looks_real", "histogram", "looks_real_histogram", "fid",
                      "fid_floor", "variety", "overlap", "probabilities"):
            assert getattr(mine, field) == getattr(theirs, field), field
        assert torch.equal(mine.d_real, theirs.d_real) and torch.equal(mine.d_fake, theirs.d_fake)
    assert [s.step for s in back.snapshots] == [s.step for s in p.snapshots]
    for mine, theirs in zip(back.snapshots, p.snapshots):
        assert torch.equal(mine.images, theirs.images)
        assert (mine.push is None) == (theirs.push is None) and (mine.verdicts is None) == (theirs.verdicts is None)
        if theirs.push is not None:
            assert torch.equal(mine.push, theirs.push) and torch.equal(mine.verdicts, theirs.verdicts)
        assert mine.probabilities == theirs.probabilities

    record = store.load_record(run_id)
    assert record.changes == list(p.changes) and [c.settings for c in record.changes] == [c.settings for c in p.changes]
    assert record.nudges == [nudge] and record.settings == p.settings
    assert record.summary.status == "finished" and record.summary.step == p.step
    assert record.summary.lesson == "lr-too-high"
    assert [r.id for r in store.runs_of(TOKEN)] == [run_id] and store.runs_of("another token") == []


def test_snapshots_written_again_keep_only_the_newest(store, trained):
    """A record saved twice, the second time with fewer older snapshots and a new newest: the store follows."""
    p = trained.state()
    run_id = save_whole(store, trained)
    kept = list(p.snapshots[2:])
    store.save_record(run_id, Status.RUNNING, "", p.step, p.history.columns(), snapshots=kept)
    assert [s.step for s in store.load_record(run_id).snapshots] == [s.step for s in kept]
    assert store.load_record(run_id).snapshots[-1].push is not None


def test_a_status_only_save_keeps_the_record(store, trained):
    p = trained.state()
    run_id = save_whole(store, trained)
    before = store.load_record(run_id)
    store.save_record(run_id, Status.PAUSED, step=p.step)
    after = store.load_record(run_id)
    assert after.summary.status == "paused" and after.history == before.history == p.history.columns()
    assert len(after.snapshots) == len(p.snapshots) and after.changes == list(p.changes)
    assert len(after.readings) == len(p.readings) and after.settings == p.settings


def test_session_keeps_only_the_tokens_hash(store, trained, database_url):
    run_id = save_whole(store, trained)
    store.save_session(TOKEN, run_counter=3, current_run_id=run_id)
    record = store.session(TOKEN)
    assert (record.run_counter, record.current_run_id) == (3, run_id)
    assert store.session("not-" + TOKEN) is None
    with store.engine.connect() as db:
        keys = db.scalars(select(SessionRow.token_hash)).all()
        dump = " ".join(str(v) for row in db.execute(text("SELECT * FROM sessions")) for v in row)
        dump += " ".join(str(v) for row in db.execute(text("SELECT session_hash, meta FROM runs")) for v in row)
    assert keys == [token_hash(TOKEN)] and TOKEN not in dump
    if database_url.startswith("sqlite"):  # nowhere in the file, or its write-ahead log
        store.close()
        path = database_url.removeprefix("sqlite:///")
        for name in (path, f"{path}-wal"):
            if os.path.exists(name):
                with open(name, "rb") as f:
                    assert TOKEN.encode() not in f.read()


def test_a_run_is_only_its_sessions(store, trained):
    run_id = save_whole(store, trained)
    with pytest.raises(RunGone):
        store.load_run(run_id, token="someone else")
    with pytest.raises(RunGone, match="no longer in the store"):
        store.load_record(run_id + 1000)


def corrupt(store: RunStore, run_id: int, change) -> None:
    with store.engine.begin() as db:
        row = db.execute(select(WeightsRow.data, WeightsRow.sha256).where(WeightsRow.run_id == run_id)).one()
        data, sha = change(bytes(row.data), row.sha256)
        db.execute(update(WeightsRow).where(WeightsRow.run_id == run_id).values(data=data, sha256=sha))


def test_corrupted_weights_are_refused(store, trained):
    import hashlib

    run_id = save_whole(store, trained)

    def flip(data, sha):  # flip bytes in the header's JSON, and "fix" the checksum: the checkpoint check refuses it
        bad = bytearray(data)
        bad[8:16] = b"\xff" * 8
        return bytes(bad), hashlib.sha256(bad).hexdigest()

    corrupt(store, run_id, flip)
    with pytest.raises(StoreError, match=r"run \d+ \(Run 1\): its saved weights are refused: not a safetensors"):
        store.load_run(run_id)
    assert store.load_record(run_id).summary.name == "Run 1"  # the record still reads


def test_weights_with_a_wrong_checksum_are_refused(store, trained):
    run_id = save_whole(store, trained)

    def flip_last(data, sha):  # a weight's last byte changed: still a valid checkpoint, but not what was saved
        return data[:-1] + bytes([data[-1] ^ 1]), sha

    corrupt(store, run_id, flip_last)
    with pytest.raises(StoreError, match="do not match their checksum"):
        store.load_run(run_id)


def test_latest_weights_serve_until_final(store, trained):
    run = run_of(trained)
    run_id = store.create_run(TOKEN, run, status=Status.RUNNING)
    with pytest.raises(StoreError, match="no saved weights yet"):
        store.load_run(run_id)
    store.save_weights(run_id, "latest", run.cfg, run.G, run.D, run.meta)
    assert_same_nets(store.load_run(run_id).G, run.G)


def test_mark_interrupted_stops_active_runs_with_their_step(store, trained):
    running = save_whole(store, trained, name="Run 1")
    finished = save_whole(store, trained, name="Run 2")
    p = trained.state()
    store.save_record(running, Status.RUNNING, "", 1234)
    store.save_record(finished, Status.FINISHED, "", p.step)
    assert store.mark_interrupted() == [running]
    summary = {r.id: r for r in store.runs_of(TOKEN)}
    assert summary[running].status == "stopped"
    assert summary[running].reason == "Stopped by a server restart at step 1,234."
    assert summary[finished].status == "finished" and summary[finished].reason == ""
    assert store.mark_interrupted() == []


def test_mark_interrupted_leaves_runs_written_lately(store, trained):
    """Replicas sharing one database: a restart leaves the runs another replica wrote within `idle_seconds`."""
    run_id = save_whole(store, trained)
    store.save_record(run_id, Status.RUNNING, "", 10)
    assert store.mark_interrupted(idle_seconds=3600) == []
    assert store.mark_interrupted() == [run_id]


def age(store: RunStore, run_id: int, days: float) -> None:
    with store.engine.begin() as db:
        db.execute(text("UPDATE runs SET updated_at = :t WHERE id = :i"),
                   {"t": datetime.now(UTC) - timedelta(days=days), "i": run_id})


def test_evict_by_age(store, trained):
    old, new = save_whole(store, trained, name="Run 1"), save_whole(store, trained, name="Run 2")
    store.save_session(TOKEN, 2, current_run_id=old)
    age(store, old, 8)
    before = store.size()
    gone = store.evict(keep_days=7, max_bytes=10**12)
    assert [(e.id, e.why) for e in gone] == [(old, "age")]
    assert [r.id for r in store.runs_of(TOKEN)] == [new]
    assert store.size() == before - gone[0].size > 0
    assert store.session(TOKEN).current_run_id is None  # the session no longer points at a run that went
    store.save_session("a session long gone", 0)
    with store.engine.begin() as db:
        db.execute(update(SessionRow).where(SessionRow.token_hash == token_hash("a session long gone"))
                   .values(seen_at=datetime.now(UTC) - timedelta(days=8)))
    assert store.evict(keep_days=7, max_bytes=10**12) == []
    assert store.session("a session long gone") is None and store.session(TOKEN) is not None
    with pytest.raises(RunGone):
        store.load_run(old)


def test_evict_by_size_oldest_first_never_an_active_run(store, trained):
    ids = [save_whole(store, trained, name=f"Run {i}") for i in range(1, 5)]
    for days, run_id in zip((3, 1, 2, 4), ids):  # oldest: ids[3], then ids[0], ids[2], ids[1]
        age(store, run_id, days)
    store.save_record(ids[3], Status.RUNNING, "", 5)  # the oldest is still training (and now the newest write)
    age(store, ids[3], 5)
    sizes = {r.id: r.size for r in store.runs_of(TOKEN)}
    assert len(set(sizes.values())) <= 2 and min(sizes.values()) > 10_000  # weights are counted
    budget = sizes[ids[3]] + sizes[ids[1]]  # room for two: the active one and the newest
    gone = store.evict(keep_days=30, max_bytes=budget)
    assert [(e.id, e.why) for e in gone] == [(ids[0], "size"), (ids[2], "size")]
    assert sorted(r.id for r in store.runs_of(TOKEN)) == sorted([ids[1], ids[3]])
    assert store.size() <= budget


def test_unreachable_database_names_it_without_the_password():
    from browser_support import free_port

    url = f"postgresql://student:pa55-Secret-word@127.0.0.1:{free_port()}/runs"
    with pytest.raises(StoreError) as caught:
        RunStore.open(url)
    message = str(caught.value)
    assert "pa55-Secret-word" not in message and "***" in message
    assert "cannot be reached" in message and "GAN_EXPLORER_DATABASE_URL" in message
    assert caught.value.__suppress_context__  # the driver's error (and the URL in it) is not chained on


def test_sqlite_folder_and_file_are_private(tmp_path):
    home = tmp_path / "home"
    store = RunStore.open(environ={"GAN_EXPLORER_HOME": str(home)})
    try:
        store.save_session(TOKEN, 1)
    finally:
        store.close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm"):
        if (home / name).exists():
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert (home / "runs.sqlite").exists()


def test_an_existing_data_folder_is_made_private(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    RunStore.open(environ={"GAN_EXPLORER_HOME": str(home)}).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_settings_from_the_environment(tmp_path):
    s = StoreSettings.from_env({"GAN_EXPLORER_HOME": str(tmp_path)})
    assert s.url.database == str(tmp_path / "runs.sqlite") and s.keep_days == 7 and s.max_bytes == 2 * 2**30
    s = StoreSettings.from_env({"GAN_EXPLORER_DATABASE_URL": "postgresql://u:secret@db:5432/runs",
                                "GAN_EXPLORER_KEEP_DAYS": "0.5", "GAN_EXPLORER_MAX_STORE": "500M"})
    assert s.url.drivername == "postgresql+psycopg" and s.keep_days == 0.5 and s.max_bytes == 500 * 2**20
    assert "secret" not in s.safe_url and "***" in s.safe_url
    for env, match in (({"GAN_EXPLORER_KEEP_DAYS": "soon"}, "GAN_EXPLORER_KEEP_DAYS='soon' is not a number"),
                       ({"GAN_EXPLORER_KEEP_DAYS": "-1"}, "above 0"),
                       ({"GAN_EXPLORER_MAX_STORE": "lots"}, "GAN_EXPLORER_MAX_STORE='lots' is not a size"),
                       ({"GAN_EXPLORER_DATABASE_URL": "mysql://u:secret@h/db"}, "SQLite or PostgreSQL"),
                       ({"GAN_EXPLORER_DATABASE_URL": "not a url :secret"}, "is not a database URL"),
                       ({"GAN_EXPLORER_DATABASE_URL": "sqlite://"}, "in-memory SQLite database would not outlive")):
        with pytest.raises(StoreError, match=match) as caught:
            StoreSettings.from_env({"GAN_EXPLORER_HOME": str(tmp_path), **env})
        assert "secret" not in str(caught.value)


def test_a_database_that_goes_away_fails_plainly_then_serves_again(trained):
    """The database stopped between two writes: the write raises StoreError (no password in it); once it is back,
    the same store writes again (a writer that retries catches up)."""
    from postgres_support import PostgresServer

    with PostgresServer() as server:
        server.sql("ALTER USER postgres PASSWORD 'db-Secret-pw'")
        server.sql("CREATE DATABASE runs")
        store = RunStore.open(server.url("runs", password="db-Secret-pw"))
        try:
            run_id = save_whole(store, trained)
            server.stop()
            with pytest.raises(StoreError, match="failed") as caught:
                store.save_record(run_id, Status.RUNNING, "", 50)
            assert "db-Secret-pw" not in str(caught.value) and "***" in str(caught.value)
            server.start()
            store.save_record(run_id, Status.RUNNING, "", 60)
            assert store.runs_of(TOKEN)[0].step == 60
        finally:
            store.close()


def test_a_writer_thread_and_readers_share_one_store(store, trained):
    """A background writer saving the record while other threads read it: no error, and the last write wins."""
    import threading

    run_id = save_whole(store, trained)
    p, errors, done = trained.state(), [], threading.Event()

    def write():
        try:
            for step in range(1, 31):
                store.save_record(run_id, Status.RUNNING, "", step, p.history.columns(), p.readings, p.changes,
                                  (), p.snapshots, p.settings)
        except Exception as e:  # reported below
            errors.append(e)
        finally:
            done.set()

    def read():
        try:
            while not done.is_set():
                assert store.load_record(run_id).summary.step >= 0
                store.runs_of(TOKEN)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert store.runs_of(TOKEN)[0].step == 30


@pytest.mark.parametrize("table, column, value, match", [
    ("records", "history", "[" * 100 + "]" * 100, "chart rows nests lists and objects 100 deep"),
    ("records", "history", '{"step": [1, 2], "d_loss": [0.5]}', "columns differ in length"),
    ("records", "readings", '[{"step": 1}]', "quality readings are not what GAN Explorer writes"),
    ("records", "changes", '{"step": 1}', "live changes is an object, not a list"),
    ("snapshots", "images", b"not zlib", "snapshot is not zlib data"),
    ("runs", "config", '{"latent_dim": -1}', "latent_dim"),
])
def test_altered_rows_are_refused_with_a_message(store, trained, table, column, value, match):
    run_id = save_whole(store, trained)
    key = "id" if table == "runs" else "run_id"
    with store.engine.begin() as db:
        db.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :i"), {"v": value, "i": run_id})
    with pytest.raises(StoreError, match=rf"run {run_id} \(Run 1\) cannot be read back: .*{match}"):
        store.load_run(run_id)


def test_ci_fails_where_postgresql_is_missing(monkeypatch):
    import postgres_support

    monkeypatch.setattr(postgres_support, "server_bin", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        postgres_support.require_postgres()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        postgres_support.require_postgres()
