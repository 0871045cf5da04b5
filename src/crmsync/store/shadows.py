"""Shadows: the canonical values last read from or written to each connection, per canonical record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among
from crmsync.store.codec import content_hash, decode_fields, encode_fields
from crmsync.store.tables import links, shadows
from crmsync.store.upsert import upsert, upsert_many
from crmsync.store.values import Clock, Shadow


class Shadows:
    """Get and put shadows; the store computes the content hash so it always matches the fields."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def get(self, canonical_id: str, connection: str) -> Shadow | None:
        found = await self.get_all(canonical_id)
        return found.get(connection)

    async def get_all(self, canonical_id: str) -> dict[str, Shadow]:
        """Every connection's shadow of one record, by connection."""
        result = await self._db.execute(sa.select(shadows).where(shadows.c.canonical_id == canonical_id))
        return {
            row.connection: Shadow(
                canonical_id=row.canonical_id,
                connection=row.connection,
                fields=decode_fields(row.fields),
                version_token=row.version_token,
                content_hash=row.content_hash,
                updated_at=row.updated_at,
            )
            for row in result
        }

    async def get_many(self, canonical_ids: list[str], connection: str | None = None) -> dict[str, dict[str, Shadow]]:
        """Batched `get_all`: canonical id → connection → shadow, for the records that have any.

        With `connection`, only that connection's shadows (a write to one CRM needs no other's values decoded).
        """
        found: dict[str, dict[str, Shadow]] = {}
        if not canonical_ids:
            return found
        query = sa.select(shadows).where(among(self._db, shadows.c.canonical_id, canonical_ids))
        if connection is not None:
            query = query.where(shadows.c.connection == connection)
        result = await self._db.execute(query)
        for row in result:
            found.setdefault(row.canonical_id, {})[row.connection] = Shadow(
                canonical_id=row.canonical_id,
                connection=row.connection,
                fields=decode_fields(row.fields),
                version_token=row.version_token,
                content_hash=row.content_hash,
                updated_at=row.updated_at,
            )
        return found

    async def hashes(self, canonical_ids: list[str], connection: str) -> dict[str, str]:
        """canonical id → content hash of one connection's shadow (cheap: no field values are decoded)."""
        found: dict[str, str] = {}
        for start in range(0, len(canonical_ids), 500):
            chunk = canonical_ids[start : start + 500]
            result = await self._db.execute(
                sa.select(shadows.c.canonical_id, shadows.c.content_hash).where(
                    among(self._db, shadows.c.canonical_id, chunk), shadows.c.connection == connection
                )
            )
            found.update({row.canonical_id: row.content_hash for row in result})
        return found

    async def linked_values(
        self, connection: str, object: str, names: Sequence[str], *, after: str, limit: int
    ) -> list[tuple[str, str, dict[str, str | None]]]:
        """A page of the records linked in `connection` as `object` that have a shadow there, by remote id after
        `after`: (remote id, canonical id, the shadow's `names` fields as text, None where blank or missing).

        Only those fields are extracted, in the database: a scan of a connection's links decodes no shadow.
        """
        values = [shadows.c.fields[name].as_string().label(f"v{i}") for i, name in enumerate(names)]
        query = (
            sa.select(links.c.remote_id, links.c.canonical_id, *values)
            .join(
                shadows,
                sa.and_(shadows.c.canonical_id == links.c.canonical_id, shadows.c.connection == links.c.connection),
            )
            .where(links.c.connection == connection, links.c.object == object, links.c.remote_id > after)
            .order_by(links.c.remote_id)
            .limit(limit)
        )
        return [
            (row[0], row[1], {name: row[2 + i] for i, name in enumerate(names)})
            for row in await self._db.execute(query)
        ]

    async def put(self, shadow: Shadow) -> Shadow:
        stored = replace(shadow, content_hash=content_hash(shadow.fields), updated_at=self._clock())
        values = {
            "canonical_id": stored.canonical_id,
            "connection": stored.connection,
            "fields": encode_fields(stored.fields),
            "content_hash": stored.content_hash,
            "version_token": stored.version_token,
            "updated_at": stored.updated_at,
        }
        await upsert(self._db, shadows, values, ("canonical_id", "connection"))
        return stored

    async def put_many(self, new_shadows: list[Shadow]) -> None:
        """`put` for a batch, in one statement (a later shadow of the same record and connection wins)."""
        now = self._clock()
        rows = {
            (sh.canonical_id, sh.connection): {
                "canonical_id": sh.canonical_id,
                "connection": sh.connection,
                "fields": encode_fields(sh.fields),
                "content_hash": content_hash(sh.fields),
                "version_token": sh.version_token,
                "updated_at": now,
            }
            for sh in new_shadows
        }
        await upsert_many(self._db, shadows, list(rows.values()), ("canonical_id", "connection"))

    async def delete(self, canonical_id: str, connection: str | None = None) -> int:
        query = sa.delete(shadows).where(shadows.c.canonical_id == canonical_id)
        if connection is not None:
            query = query.where(shadows.c.connection == connection)
        return (await self._db.execute(query)).rowcount
