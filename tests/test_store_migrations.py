"""The store's schema migrations (explorer/app/store/migrate.py, migrations/): an older store is upgraded when it
opens, one from a newer version of the code is refused, and the migrations make the tables the code declares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from explorer.app.store import RunStore, StoreError, migrate
from explorer.app.store.engine import make_engine
from explorer.app.store.schema import Base
from explorer.app.store.settings import database_url as store_url
from explorer.app.store.settings import private_sqlite_file
from explorer.config import GANConfig

FIRST = "0001"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def engine(database_url):
    url = store_url(database_url)
    private_sqlite_file(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_store_at_the_first_revision_is_upgraded_on_open(database_url, engine):
    assert migrate.head() != FIRST  # there is something to upgrade
    migrate.upgrade(engine, FIRST)
    assert migrate.current(engine) == FIRST and "snapshots" not in inspect(engine).get_table_names()
    with engine.begin() as db:  # a session and a finished run, as the first schema held them
        db.execute(text("INSERT INTO sessions (token_hash, run_counter, created_at, seen_at) "
                        "VALUES (:h, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"h": "ab" * 32})
        db.execute(text("INSERT INTO runs (session_hash, name, source, config, meta, lesson, fix_of, status, reason, "
                        "step, size, created_at, updated_at) VALUES (:h, 'Run 1', 'trained', :cfg, '{}', '', '', "
                        "'finished', '', 40, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                   {"h": "ab" * 32, "cfg": GANConfig().to_json()})
    store = RunStore.open(database_url)
    try:
        assert migrate.current(store.engine) == migrate.head()
        assert "snapshots" in inspect(store.engine).get_table_names()
        with store.engine.connect() as db:
            run_id, name = db.execute(text("SELECT id, name FROM runs")).one()
        record = store.load_record(run_id)  # the old run reads under the new code, with no snapshots yet
        assert (record.summary.name, record.summary.step, record.snapshots) == ("Run 1", 40, [])
    finally:
        store.close()


def test_a_store_from_newer_code_is_refused(database_url, engine):
    RunStore.open(database_url).close()
    with engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(StoreError, match="schema revision '9999_from_the_future'.*newer GAN Explorer"):
        RunStore.open(database_url)
    assert migrate.current(engine) == "9999_from_the_future"  # left as it was


def test_the_migrations_make_the_declared_tables(engine):
    migrate.upgrade(engine)
    with engine.connect() as db:
        differences = compare_metadata(MigrationContext.configure(db, opts={"compare_type": True}), Base.metadata)
    assert differences == []


def test_opening_twice_changes_nothing(database_url):
    RunStore.open(database_url).close()
    store = RunStore.open(database_url)  # already at head: nothing to run
    try:
        assert migrate.current(store.engine) == migrate.head()
    finally:
        store.close()


OPEN_TOGETHER = """
import os, sys, threading, time
from explorer.app.store import RunStore
url, go = sys.argv[1], sys.argv[2]
open(go + "." + str(os.getpid()), "w").close()  # ready
while not os.path.exists(go):
    time.sleep(0.005)
errors = []
def open_store():
    try:
        RunStore.open(url).close()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=open_store) for _ in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors or "ok")
"""


@pytest.mark.slow  # many seconds: the fast tier leaves it out
def test_replicas_starting_together_migrate_once(database_url, tmp_path):
    """Two processes of three threads each open one new database at the same moment: all of them get a store
    (migrations run one at a time: Alembic's context is process-wide, and the database is locked meanwhile)."""
    import subprocess
    import sys

    from tiny import wait_until

    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_TOGETHER, database_url, str(go)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    try:
        wait_until(lambda: len(list(tmp_path.glob("go.*"))) == 2, timeout=120)
        go.touch()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert [o.strip().splitlines()[-1] for o in outputs] == ["ok", "ok"], outputs
