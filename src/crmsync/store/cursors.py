"""Incremental cursors per (connection, object), advanced only after their hints are queued."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.tables import cursors
from crmsync.store.upsert import upsert
from crmsync.store.values import Clock


class Cursors:
    """Get and put the opaque cursor token of a connection's object."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def get(self, connection: str, object: str) -> str | None:
        result = await self._db.execute(
            sa.select(cursors.c.cursor).where(cursors.c.connection == connection, cursors.c.object == object)
        )
        return result.scalar_one_or_none()

    async def put(self, connection: str, object: str, cursor: str) -> None:
        values = {"connection": connection, "object": object, "cursor": cursor, "updated_at": self._clock()}
        await upsert(self._db, cursors, values, ("connection", "object"))

    async def reset(self, connection: str, object: str | None = None) -> int:
        """Forget cursors so the next run starts from the beginning (a full sync)."""
        query = sa.delete(cursors).where(cursors.c.connection == connection)
        if object is not None:
            query = query.where(cursors.c.object == object)
        return (await self._db.execute(query)).rowcount
