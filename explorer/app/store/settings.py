"""Where the run store lives and how long it keeps runs, from the environment:

    GAN_EXPLORER_DATABASE_URL   the database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB
                                (default: a SQLite file, runs.sqlite, in the data folder)
    GAN_EXPLORER_HOME           the data folder (default ~/.gan-explorer); made readable by the server's user only
    GAN_EXPLORER_KEEP_DAYS      days a run is kept after its last write (default 7)
    GAN_EXPLORER_MAX_STORE      the store's size budget, e.g. 2G or 500M (default 2G): past it, the oldest runs go

The URL holds a password: it is shown only as `safe_url` (password hidden), never logged.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ...memory import parse_bytes
from .errors import StoreError

SQLITE_NAME = "runs.sqlite"
KEEP_DAYS = 7.0
MAX_STORE = "2G"
URL_HELP = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


@dataclass(frozen=True)
class StoreSettings:
    url: URL
    keep_days: float = KEEP_DAYS
    max_bytes: int = parse_bytes(MAX_STORE)
    home: Path | None = None  # the data folder, when the default SQLite file lives there

    @classmethod
    def from_env(cls, environ=None) -> StoreSettings:
        env = os.environ if environ is None else environ
        text = env.get("GAN_EXPLORER_DATABASE_URL", "").strip()
        home = None
        if text:
            url = database_url(text)
        else:
            home = data_home(env)
            url = make_url(f"sqlite:///{home / SQLITE_NAME}")
        return cls(url, keep_days(env), max_store(env), home)

    @property
    def safe_url(self) -> str:
        return safe(self.url)


def data_home(env=None) -> Path:
    """GAN_EXPLORER_HOME, or ~/.gan-explorer."""
    env = os.environ if env is None else env
    text = env.get("GAN_EXPLORER_HOME", "").strip()
    return Path(text).expanduser() if text else Path.home() / ".gan-explorer"


def database_url(text: str | URL) -> URL:
    """A URL for SQLite or for PostgreSQL through psycopg 3 (postgresql:// and postgres:// are mapped to it)."""
    try:
        url = text if isinstance(text, URL) else make_url(text)
    except (ArgumentError, ValueError):  # a bad port is a ValueError; the text may hold a password: not repeated
        raise StoreError(f"GAN_EXPLORER_DATABASE_URL is not a database URL; expected {URL_HELP}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if url.database in (None, "", ":memory:") or "mode=memory" in str(url.query):
            raise StoreError("an in-memory SQLite database would not outlive the server (and each thread would see "
                             "its own): give GAN_EXPLORER_DATABASE_URL a file, sqlite:///PATH")
        return url.set(drivername="sqlite")
    raise StoreError(f"GAN_EXPLORER_DATABASE_URL names a {url.drivername!r} database ({safe(url)}), but the run "
                     f"store works on SQLite or PostgreSQL (through psycopg 3); expected {URL_HELP}")


def safe(url: URL) -> str:
    """The URL as it may be shown: its password hidden."""
    return url.render_as_string(hide_password=True)


def keep_days(env) -> float:
    text = env.get("GAN_EXPLORER_KEEP_DAYS", "").strip()
    if not text:
        return KEEP_DAYS
    try:
        days = float(text)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise StoreError(f"GAN_EXPLORER_KEEP_DAYS={text!r} is not a number of days above 0 (e.g. 7, or 0.5)")
    return days


def max_store(env) -> int:
    text = env.get("GAN_EXPLORER_MAX_STORE", "").strip() or MAX_STORE
    try:
        return parse_bytes(text)
    except ValueError:
        raise StoreError(f"GAN_EXPLORER_MAX_STORE={text!r} is not a size (e.g. 2G, 500M)") from None


def private_sqlite_file(url: URL, home: Path | None = None) -> None:
    """Make a SQLite database's folder (0700, the data folder itself when given) and file (0600) readable by the
    server's user only, before SQLite opens it. Other databases: nothing to do."""
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path).expanduser()
    folder = home if home is not None else file.parent
    try:
        if not folder.exists() or folder == home:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(file, os.O_CREAT | os.O_RDWR, 0o600))
        file.chmod(0o600)
        for extra in (Path(f"{file}-wal"), Path(f"{file}-shm")):  # SQLite's write-ahead log, if it is there
            if extra.exists():
                extra.chmod(0o600)
    except OSError as e:
        raise StoreError(f"the run store's file {file} cannot be made ({e.strerror or e}); set GAN_EXPLORER_HOME "
                         f"to a folder the server may write, or GAN_EXPLORER_DATABASE_URL to another database"
                         ) from None
