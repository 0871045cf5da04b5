"""The match-key index: normalised keys (an email, a domain) → the canonical record that holds them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among
from crmsync.store.tables import match_keys
from crmsync.store.upsert import upsert, upsert_many


class MatchKeys:
    """First-come keys: the first canonical record to claim a key keeps it (a survivor never flips)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def find(self, kind: str, keys: Sequence[str]) -> dict[str, str]:
        """key → canonical id for the keys already claimed."""
        if not keys:
            return {}
        result = await self._db.execute(
            sa.select(match_keys.c.key, match_keys.c.canonical_id).where(
                match_keys.c.kind == kind, among(self._db, match_keys.c.key, keys)
            )
        )
        return {row.key: row.canonical_id for row in result}

    async def claim(self, kind: str, key: str, canonical_id: str) -> None:
        await upsert(self._db, match_keys, {"kind": kind, "key": key, "canonical_id": canonical_id}, ("kind", "key"))

    async def claim_many(self, kind: str, claims: dict[str, str]) -> None:
        """key → canonical id, in one statement."""
        rows = [{"kind": kind, "key": key, "canonical_id": cid} for key, cid in claims.items()]
        await upsert_many(self._db, match_keys, rows, ("kind", "key"))

    async def release(self, canonical_id: str) -> int:
        """Forget a canonical record's keys (it was deleted or merged away)."""
        result = await self._db.execute(sa.delete(match_keys).where(match_keys.c.canonical_id == canonical_id))
        return result.rowcount

    async def repoint(self, from_canonical_id: str, to_canonical_id: str) -> int:
        result = await self._db.execute(
            sa.update(match_keys)
            .where(match_keys.c.canonical_id == from_canonical_id)
            .values(canonical_id=to_canonical_id)
        )
        return result.rowcount


__all__ = ["MatchKeys"]
