"""Alembic's entry for the run store's migrations. It runs only inside explorer.app.store.migrate, which hands
it an open connection (config.attributes["connection"]) in a transaction that holds the migration lock; there
is no alembic.ini and no offline mode."""

from alembic import context

from explorer.app.store.schema import Base


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():  # within migrate.upgrade's transaction, which holds the migration lock
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("the run store migrates online only (explorer.app.store.migrate)")
run_migrations_online()
