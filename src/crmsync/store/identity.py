"""The identity map: which remote record in which connection stands for which canonical record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.model.values import ObjectKind
from crmsync.store.among import among
from crmsync.store.tables import links
from crmsync.store.upsert import upsert, upsert_many
from crmsync.store.values import Clock, Link

_LINK_COLUMNS = (links.c.canonical_id, links.c.kind, links.c.connection, links.c.object, links.c.remote_id)
"""What a Link holds: reading `created_at` too would parse a timestamp per row that nothing uses."""


def _link(row: sa.Row[Any, Any, Any, Any, Any]) -> Link:
    kind: ObjectKind = row.kind
    return Link(row.canonical_id, kind, row.connection, row.object, row.remote_id)


class IdentityMap:
    """Links, unlinks and re-points remote ids; looks canonical ids up both ways."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def link(self, link: Link) -> None:
        """Record `link`; linking an already linked remote id points it at the new canonical id."""
        values = {
            "connection": link.connection,
            "object": link.object,
            "remote_id": link.remote_id,
            "canonical_id": link.canonical_id,
            "kind": link.kind,
            "created_at": self._clock(),
        }
        await upsert(self._db, links, values, ("connection", "object", "remote_id"))

    async def link_many(self, new_links: list[Link]) -> None:
        """`link` for a batch, in one statement (a later entry for the same remote id wins)."""
        if not new_links:
            return
        now = self._clock()
        # A microsecond apart, in the order given: a link's age decides which record of a connection is the
        # survivor crmsync writes to, so a duplicate linked after its survivor in one batch must stay younger.
        rows = {
            (lk.connection, lk.object, lk.remote_id): {
                "connection": lk.connection,
                "object": lk.object,
                "remote_id": lk.remote_id,
                "canonical_id": lk.canonical_id,
                "kind": lk.kind,
                "created_at": now + timedelta(microseconds=n),
            }
            for n, lk in enumerate(new_links)
        }
        await upsert_many(self._db, links, list(rows.values()), ("connection", "object", "remote_id"))

    async def unlink(self, connection: str, object: str, remote_id: str) -> bool:
        result = await self._db.execute(sa.delete(links).where(*self._remote(connection, object, remote_id)))
        return result.rowcount > 0

    async def repoint(self, from_canonical_id: str, to_canonical_id: str) -> int:
        """Move every link of one canonical record to another (a vendor merge); returns links moved."""
        result = await self._db.execute(
            sa.update(links).where(links.c.canonical_id == from_canonical_id).values(canonical_id=to_canonical_id)
        )
        return result.rowcount

    async def canonical_id(self, connection: str, object: str, remote_id: str) -> str | None:
        result = await self._db.execute(
            sa.select(links.c.canonical_id).where(*self._remote(connection, object, remote_id))
        )
        return result.scalar_one_or_none()

    async def canonical_ids(self, connection: str, object: str, remote_ids: list[str]) -> dict[str, str]:
        """Batched lookup: remote id → canonical id for those that are linked."""
        if not remote_ids:
            return {}
        result = await self._db.execute(
            sa.select(links.c.remote_id, links.c.canonical_id).where(
                links.c.connection == connection,
                links.c.object == object,
                among(self._db, links.c.remote_id, remote_ids),
            )
        )
        return {row.remote_id: row.canonical_id for row in result}

    async def remote_links(self, canonical_id: str, connection: str | None = None) -> list[Link]:
        """The reverse lookup: a canonical record's remote ids, oldest link first."""
        query = sa.select(*_LINK_COLUMNS).where(links.c.canonical_id == canonical_id)
        if connection is not None:
            query = query.where(links.c.connection == connection)
        result = await self._db.execute(query.order_by(links.c.created_at, links.c.connection, links.c.remote_id))
        return [_link(row) for row in result]

    async def links_of(self, canonical_ids: list[str], connection: str | None = None) -> dict[str, list[Link]]:
        """Batched `remote_links`: canonical id → its links (in `connection` only, when given), oldest first."""
        found: dict[str, list[Link]] = {}
        if not canonical_ids:
            return found
        query = sa.select(*_LINK_COLUMNS).where(among(self._db, links.c.canonical_id, canonical_ids))
        if connection is not None:
            query = query.where(links.c.connection == connection)
        query = query.order_by(links.c.created_at, links.c.connection, links.c.remote_id)
        for row in await self._db.execute(query):
            found.setdefault(row.canonical_id, []).append(_link(row))
        return found

    async def remote_id(self, canonical_id: str, connection: str) -> str | None:
        found = await self.remote_links(canonical_id, connection)
        return found[0].remote_id if found else None

    @staticmethod
    def _remote(connection: str, object: str, remote_id: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (links.c.connection == connection, links.c.object == object, links.c.remote_id == remote_id)
