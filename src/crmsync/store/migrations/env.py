"""Alembic environment: runs migrations on the connection `crmsync.store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from crmsync.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("crmsync migrations run through crmsync.store.open_store, not the alembic command line")

# Batch mode lets ALTERs work on SQLite by copying the table; PostgreSQL ignores it.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
