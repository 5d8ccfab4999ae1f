"""The SQLAlchemy engine for a store URL, set up for use from several threads: one engine per store, a session
per call. SQLite: shared across threads, write-ahead log (readers never wait for the writer), a busy timeout
(writers wait for each other instead of failing) and foreign keys on. PostgreSQL: a connection is tested before
use, so a server that restarted is reached again."""

from __future__ import annotations

import sqlite3
import time

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10
WAL_RETRY_SECONDS = 0.05


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        # With WAL: a commit survives the server being killed; an OS crash may lose the last ones, never corrupt.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _wal(cursor) -> None:
    """Switch to the write-ahead log. On a new database that another process is creating or migrating at that moment
    (replicas starting together), the switch can answer "database is locked" at once, without waiting out the busy
    timeout: SQLite needs the database to itself for it. So it is tried again for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_SECONDS)


def reason(error: SQLAlchemyError, url: URL) -> str:
    """What the database driver said, on one line, without SQL, parameters or the password."""
    source = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = (str(source).strip().splitlines() or [type(source).__name__])[0]
    if url.password:
        text = text.replace(str(url.password), "***")
    return text[:300]
