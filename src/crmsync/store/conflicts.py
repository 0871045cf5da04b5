"""Parked conflicts: park one per (record, field) until resolved; list and resolve them."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.model.values import CanonicalValue
from crmsync.store.among import among
from crmsync.store.codec import JsonValue, decode_value, encode_value
from crmsync.store.tables import conflicts
from crmsync.store.values import Clock, Conflict, ConflictSide


def _encode_sides(sides: Sequence[ConflictSide]) -> list[JsonValue]:
    return [
        {"connection": s.connection, "value": encode_value(s.value), "at": s.at.isoformat() if s.at else None}
        for s in sides
    ]


def _decode_side(raw: dict[str, Any]) -> ConflictSide:
    at = datetime.fromisoformat(raw["at"]) if raw.get("at") else None
    return ConflictSide(raw["connection"], decode_value(raw["value"]), at)


def _conflict(row: sa.Row[tuple[object, ...]]) -> Conflict:
    return Conflict(
        id=row.id,
        canonical_id=row.canonical_id,
        field=row.field,
        base=decode_value(row.base),
        has_base=row.has_base,
        sides=tuple(_decode_side(side) for side in row.sides),
        created_at=row.created_at,
        resolved=row.status == "resolved",
        resolution=decode_value(row.resolution),
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
    )


class Conflicts:
    """Park, list and resolve field-level conflicts."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def park(
        self,
        canonical_id: str,
        field: str,
        base: CanonicalValue,
        sides: Sequence[ConflictSide],
        *,
        has_base: bool | None = True,
    ) -> Conflict:
        """Park a conflict; an open one on the same field is updated with the latest sides, not duplicated.

        `has_base` is False for a conflict of records met for the first time: their values were never agreed.
        """
        open_one = await self._db.execute(
            sa.select(conflicts.c.id).where(
                conflicts.c.canonical_id == canonical_id, conflicts.c.field == field, conflicts.c.status == "open"
            )
        )
        existing = open_one.scalar_one_or_none()
        values = {"base": encode_value(base), "has_base": has_base, "sides": _encode_sides(sides)}
        if existing is None:
            result = await self._db.execute(
                sa.insert(conflicts)
                .values(canonical_id=canonical_id, field=field, status="open", created_at=self._clock(), **values)
                .returning(conflicts.c.id)
            )
            existing = result.scalar_one()
        else:
            await self._db.execute(sa.update(conflicts).where(conflicts.c.id == existing).values(**values))
        found = await self.get(existing)
        assert found is not None
        return found

    async def get(self, conflict_id: int) -> Conflict | None:
        result = await self._db.execute(sa.select(conflicts).where(conflicts.c.id == conflict_id))
        row = result.first()
        return _conflict(row) if row else None

    async def list(self, canonical_id: str | None = None, *, include_resolved: bool = False) -> list[Conflict]:
        query = sa.select(conflicts).order_by(conflicts.c.id)
        if canonical_id is not None:
            query = query.where(conflicts.c.canonical_id == canonical_id)
        if not include_resolved:
            query = query.where(conflicts.c.status == "open")
        return [_conflict(row) for row in await self._db.execute(query)]

    async def open_for(self, canonical_ids: builtins.list[str]) -> dict[str, builtins.list[Conflict]]:
        """Batched: the open conflicts of these records, by canonical id."""
        found: dict[str, list[Conflict]] = {}
        if not canonical_ids:
            return found
        query = (
            sa.select(conflicts)
            .where(among(self._db, conflicts.c.canonical_id, canonical_ids), conflicts.c.status == "open")
            .order_by(conflicts.c.id)
        )
        for row in await self._db.execute(query):
            found.setdefault(row.canonical_id, []).append(_conflict(row))
        return found

    async def repoint(self, conflict_id: int, canonical_id: str) -> None:
        """Move an open conflict to another canonical record (a vendor merge folded its record into that one)."""
        await self._db.execute(
            sa.update(conflicts)
            .where(conflicts.c.id == conflict_id, conflicts.c.status == "open")
            .values(canonical_id=canonical_id)
        )

    async def resolve(self, conflict_id: int, value: CanonicalValue, resolved_by: str) -> Conflict | None:
        """Close an open conflict with the chosen value; None if there is no such open conflict."""
        result = await self._db.execute(
            sa.update(conflicts)
            .where(conflicts.c.id == conflict_id, conflicts.c.status == "open")
            .values(
                status="resolved", resolution=encode_value(value), resolved_by=resolved_by, resolved_at=self._clock()
            )
        )
        if result.rowcount != 1:
            return None
        return await self.get(conflict_id)
