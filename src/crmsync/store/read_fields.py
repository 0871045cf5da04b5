"""The vendor fields each (connection, object) was last read with, so a sync notices a field mapped since."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.tables import read_fields
from crmsync.store.upsert import upsert
from crmsync.store.values import Clock


class ReadFields:
    """Get and put the set of vendor fields a connection's object is read with (its select list)."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def get(self, connection: str, object: str) -> frozenset[str] | None:
        """The stored set; None when none was stored yet (no sync read the object since schema 10)."""
        result = await self._db.execute(
            sa.select(read_fields.c.fields).where(
                read_fields.c.connection == connection, read_fields.c.object == object
            )
        )
        fields = result.scalar_one_or_none()
        return None if fields is None else frozenset(str(name) for name in fields)

    async def put(self, connection: str, object: str, fields: Iterable[str]) -> None:
        values = {
            "connection": connection,
            "object": object,
            "fields": sorted(set(fields)),  # sorted: the same set is the same row, whatever the mapping's order
            "updated_at": self._clock(),
        }
        await upsert(self._db, read_fields, values, ("connection", "object"))
