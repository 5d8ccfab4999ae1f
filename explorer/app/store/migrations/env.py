"""Alembic's entry for the run store's migrations. It runs only inside explorer.app.store.migrate, which hands
it an open connection (config.attributes["connection"]); there is no alembic.ini and no offline mode."""

from alembic import context
from sqlalchemy import text

from explorer.app.store.schema import Base

LOCK_KEY = 0x6A6E5F7275  # PostgreSQL advisory lock: two replicas starting together migrate one at a time


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the run store migrates online only (explorer.app.store.migrate)")
run_migrations_online()
