"""The store's schema migrations (Alembic, shipped in migrations/), run when a store opens.

`upgrade(engine)` brings an older database to the newest revision; a database at a revision this code does not
know (made by a newer GAN Explorer) is refused with a StoreError and left as it is. No alembic.ini: the config
is built here, with its scripts in this package.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from .errors import StoreError

SCRIPTS = Path(__file__).with_name("migrations")
LOCK_KEY = 0x6A6E5F7275  # PostgreSQL advisory lock held while one replica migrates
_LOCK = threading.Lock()


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(engine: Engine) -> str | None:
    """The database's revision; None for a database without the store's tables."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", where: str = "") -> None:
    """Check the database's revision, then migrate it to `revision` (a test may stop at an older one).

    One migration at a time: in this process (Alembic's context is process-wide), and among processes sharing the
    database (PostgreSQL: an advisory lock; SQLite: its write lock, taken first), so replicas may start together."""
    scripts = ScriptDirectory.from_config(alembic_config())
    with _LOCK, engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # the others wait (busy timeout) while this one migrates
        elif connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        now = MigrationContext.configure(connection).get_current_revision()
        if now is not None and _unknown(scripts, now):
            raise StoreError(f"the run store{where} has schema revision {now!r}, which this version of GAN Explorer "
                             f"does not know (its newest is {scripts.get_current_head()!r}): a newer GAN Explorer "
                             f"made it. Run that version, or point GAN_EXPLORER_DATABASE_URL at another database")
        if now != (scripts.get_current_head() if revision == "head" else revision):
            command.upgrade(alembic_config(connection), revision)


def _unknown(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is None
    except (CommandError, ResolutionError):  # alembic's "Can't locate revision"
        return True
