"""Golden records: the agreed values of each canonical record, with per-field provenance."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.model.values import CanonicalRecord, ObjectKind
from crmsync.store.codec import decode_fields, encode_fields
from crmsync.store.errors import StaleRecordError
from crmsync.store.tables import records
from crmsync.store.values import Clock, GoldenRecord, Provenance


def _encode_provenance(provenance: Mapping[str, Provenance]) -> dict[str, dict[str, str | None]]:
    return {
        name: {"connection": p.connection, "at": p.at.isoformat() if p.at else None, "reason": p.reason}
        for name, p in provenance.items()
    }


def _decode_provenance(raw: Mapping[str, Any]) -> dict[str, Provenance]:
    return {
        name: Provenance(p["connection"], datetime.fromisoformat(p["at"]) if p["at"] else None, p.get("reason", ""))
        for name, p in raw.items()
    }


def _golden(row: sa.Row[tuple[object, ...]]) -> GoldenRecord:
    kind: ObjectKind = row.kind
    record = CanonicalRecord(
        id=row.canonical_id,
        kind=kind,
        fields=decode_fields(row.fields),
        links={role: tuple(ids) for role, ids in row.links.items()},
    )
    return GoldenRecord(
        record=record,
        provenance=_decode_provenance(row.provenance),
        deleted=bool(row.deleted),
        version=row.version,
        updated_at=row.updated_at,
    )


class GoldenRecords:
    """Get and put golden records with an optimistic version check."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def get(self, canonical_id: str) -> GoldenRecord | None:
        result = await self._db.execute(sa.select(records).where(records.c.canonical_id == canonical_id))
        row = result.first()
        return _golden(row) if row else None

    async def get_many(self, canonical_ids: list[str]) -> dict[str, GoldenRecord]:
        if not canonical_ids:
            return {}
        result = await self._db.execute(sa.select(records).where(records.c.canonical_id.in_(canonical_ids)))
        return {row.canonical_id: _golden(row) for row in result}

    async def put(self, golden: GoldenRecord) -> GoldenRecord:
        """Store `golden`, which must carry the version it was read at (0 for a new record).

        Raises StaleRecordError when someone else wrote the record since; the caller's transaction
        then rolls back and the job is retried on fresh state.
        """
        now = self._clock()
        values = {
            "kind": golden.record.kind,
            "fields": encode_fields(golden.record.fields),
            "provenance": _encode_provenance(golden.provenance),
            "links": {role: list(ids) for role, ids in golden.record.links.items()},
            "deleted": golden.deleted,
            "version": golden.version + 1,
            "updated_at": now,
        }
        if golden.version == 0:
            exists = await self._db.execute(
                sa.select(records.c.version).where(records.c.canonical_id == golden.record.id)
            )
            if exists.first() is not None:
                raise StaleRecordError(f"golden record {golden.record.id} already exists")
            await self._db.execute(sa.insert(records).values(canonical_id=golden.record.id, **values))
        else:
            result = await self._db.execute(
                sa.update(records)
                .where(records.c.canonical_id == golden.record.id, records.c.version == golden.version)
                .values(**values)
            )
            if result.rowcount != 1:
                raise StaleRecordError(f"golden record {golden.record.id} changed since version {golden.version}")
        return GoldenRecord(golden.record, golden.provenance, golden.deleted, golden.version + 1, now)

    async def delete(self, canonical_id: str) -> bool:
        """Remove a record for good (a merge loser); a propagated delete is `put` with deleted=True."""
        result = await self._db.execute(sa.delete(records).where(records.c.canonical_id == canonical_id))
        return result.rowcount > 0
