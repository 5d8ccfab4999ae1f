"""A real PostgreSQL server for the store's tests, started and stopped by the tests themselves.

`PostgresServer` runs Debian's server binaries (/usr/lib/postgresql/<version>/bin, package `postgresql`) on a
free loopback port, with its data and socket in a fresh temporary folder, trusting local connections (nothing
outside 127.0.0.1 can reach it). As root it runs as the `postgres` user (initdb refuses root). On exit it is
stopped at once and its folder removed, whatever happened in between.

    with PostgresServer() as server:
        url = server.new_database()   # postgresql://postgres@127.0.0.1:PORT/test_N
        ...

`require_postgres()` skips outside CI when the binaries are missing and fails in CI (as Chromium does).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from browser_support import free_port

TIMEOUT = 60  # seconds for any one server command


def server_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def require_postgres() -> Path:
    binaries = server_bin()
    if binaries is None:
        _missing("PostgreSQL's server binaries are not installed (apt-get install postgresql; ./dev test does it)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _missing("running as root without `runuser`: PostgreSQL must run as the postgres user")
    return binaries


def _missing(why: str) -> None:
    """Skip outside CI; in CI (CI set and not false), fail: no store test may skip there."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"PostgreSQL test cannot run in CI: {why}", pytrace=False)
    pytest.skip(why)


class PostgresServer:
    def __init__(self, binaries: Path | None = None):
        self.binaries = binaries or require_postgres()
        self.dir: Path | None = None
        self.port = 0
        self.started = False
        self._names = itertools.count(1)

    def __enter__(self) -> PostgresServer:
        self.dir = Path(tempfile.mkdtemp(prefix="gan-pg-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
            self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                      "-E", "UTF8")
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        for attempt in range(3):  # a free port may be taken before the server binds it
            self.port = free_port()
            try:
                self.start()
                return
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.log_tail()}") from None

    def start(self) -> None:
        """Start the server on its port (again, after `stop()`: a test of a database that went away and came back)."""
        options = f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l", str(self.dir / "server.log"),
                  "-w", "-t", str(TIMEOUT), "start")
        self.started = True

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        name = f"test_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def sql(self, statement: str, database: str = "postgres") -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                         "-v", "ON_ERROR_STOP=1", "-At", "-c", statement)

    def stop(self) -> None:
        """Stop at once (as a crash would: no shutdown checkpoint)."""
        if self.started:
            self.started = False
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop", check=False)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-chars:]
        except (OSError, TypeError):
            return ""

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> str:
        command = [str(self.binaries / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=self.dir)
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
        return done.stdout


# ---- fixtures (re-exported by tests/conftest.py) ---------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres_server():
    """One PostgreSQL server for the test module (about 1.5 s to start); stopped and removed at its end, even after
    failures: nothing outlives its module."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty store database's URL: a SQLite file in the test's folder, or a new PostgreSQL database
    (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'runs.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def store(database_url):
    """A run store opened (and migrated) on `database_url`, closed after the test."""
    from explorer.app.store import RunStore

    opened = RunStore.open(database_url)
    try:
        yield opened
    finally:
        opened.close()
