"""The run store's Alembic migrations: env.py and versions/ (see explorer.app.store.migrate)."""
