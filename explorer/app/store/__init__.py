"""The run store: every session's runs in a database, so they outlive the server (explorer.app.store.RunStore).

One URL picks the database (GAN_EXPLORER_DATABASE_URL; explorer.app.store.settings): by default a SQLite file in
the data folder, nothing to install; for several app replicas, one PostgreSQL server (psycopg 3). The schema is
under Alembic migrations (migrations/), checked and applied when a store opens; a database made by a newer
version is refused.

Weights live in the database too (safetensors bytes in a LargeBinary column, with their SHA-256), not in files
beside it: several replicas then share nothing but the database, and one backup (`sqlite3 runs.sqlite ".backup
FILE"`, or `pg_dump`) holds every run whole. A run's weights are a few MB and written at most every 30 s, well
within what either database stores comfortably; the hot rows (runs, records) never hold them, so lists and
charts read without touching them.

What is stored of a session is the SHA-256 of its token, never the token. Everything read back is checked as
untrusted: JSON through explorer.untrusted_json, weights through explorer.checkpoints.load (never unpickled).
"""

from .errors import RunGone, StoreError
from .rows import token_hash
from .runstore import RunStore
from .settings import StoreSettings
from .values import Evicted, RunRecord, RunSummary, SessionRecord, restart_reason

__all__ = ["Evicted", "RunGone", "RunRecord", "RunStore", "RunSummary", "SessionRecord", "StoreError",
           "StoreSettings", "restart_reason", "token_hash"]
