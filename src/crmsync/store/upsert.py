"""One INSERT … ON CONFLICT DO UPDATE statement for both backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def upsert(connection: AsyncConnection, table: sa.Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert `values`, or overwrite every non-key column of the row with the same `keys`."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    updates = {name: statement.excluded[name] for name in values if name not in keys}
    await connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates))


async def upsert_many(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """`upsert` for many rows with the same columns, as one executemany (rows must have distinct keys)."""
    if not rows:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table)
    updates = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    await connection.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows))
