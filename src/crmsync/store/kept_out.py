"""Records a filter kept out, by the match key each held when last read: where a later twin finds them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among
from crmsync.store.tables import kept_out
from crmsync.store.upsert import upsert_many
from crmsync.store.values import Clock


@dataclass(frozen=True, slots=True)
class KeptOutRecord:
    """A remote record the filter kept out, and the key it held when last read."""

    connection: str
    object: str
    remote_id: str
    key: str


class KeptOut:
    """One row per kept-out record (not per key): a record read again replaces its key, so an old address it
    gave up never links it to the next person who takes that address."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def keep(self, kind: str, connection: str, object: str, keys: Mapping[str, str]) -> None:
        """remote id → the key it holds now, for the records of one connection's object just kept out."""
        now = self._clock()
        rows = [
            {"connection": connection, "object": object, "remote_id": rid, "kind": kind, "key": key, "met_at": now}
            for rid, key in keys.items()
        ]
        await upsert_many(self._db, kept_out, rows, ("connection", "object", "remote_id"))

    async def forget(self, connection: str, object: str, remote_ids: Sequence[str]) -> int:
        """Drop these records (linked now, passing the filter, keyless, or deleted): no twin may find them."""
        if not remote_ids:
            return 0
        result = await self._db.execute(
            sa.delete(kept_out).where(
                kept_out.c.connection == connection,
                kept_out.c.object == object,
                among(self._db, kept_out.c.remote_id, list(remote_ids)),
            )
        )
        return result.rowcount

    async def kept(self, connection: str, object: str, remote_ids: Sequence[str]) -> set[str]:
        """Which of these records of one connection's object the filter keeps out now."""
        if not remote_ids:
            return set()
        query = sa.select(kept_out.c.remote_id).where(
            kept_out.c.connection == connection,
            kept_out.c.object == object,
            among(self._db, kept_out.c.remote_id, list(remote_ids)),
        )
        return {str(remote_id) for remote_id in (await self._db.execute(query)).scalars()}

    async def find(self, kind: str, keys: Sequence[str]) -> dict[str, list[KeptOutRecord]]:
        """key → the records kept out with it, the first met first."""
        found: dict[str, list[KeptOutRecord]] = {}
        if not keys:
            return found
        query = (
            sa.select(kept_out.c.connection, kept_out.c.object, kept_out.c.remote_id, kept_out.c.key)
            .where(kept_out.c.kind == kind, among(self._db, kept_out.c.key, list(keys)))
            .order_by(kept_out.c.met_at, kept_out.c.connection, kept_out.c.remote_id)
        )
        for row in await self._db.execute(query):
            found.setdefault(row.key, []).append(KeptOutRecord(row.connection, row.object, row.remote_id, row.key))
        return found


__all__ = ["KeptOut", "KeptOutRecord"]
