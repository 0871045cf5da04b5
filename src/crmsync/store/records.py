"""Golden records: the agreed values of each canonical record, with per-field provenance."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.model.values import CanonicalRecord, ObjectKind
from crmsync.store.among import among
from crmsync.store.codec import decode_fields, encode_fields
from crmsync.store.errors import StaleRecordError
from crmsync.store.tables import records
from crmsync.store.values import Clock, GoldenRecord, Provenance

PROVENANCE_CACHE = 4_096
"""Provenances remembered: a record's fields mostly share a few (one per source change), and a page's records
share their sync time, so decoding and encoding them through a small bounded cache skips most of the work."""


@functools.lru_cache(maxsize=PROVENANCE_CACHE)
def _encoded(p: Provenance) -> dict[str, str | None]:
    # Shared between records: the encoder only reads it.
    return {"connection": p.connection, "at": p.at.isoformat() if p.at else None, "reason": p.reason}


@functools.lru_cache(maxsize=PROVENANCE_CACHE)
def _decoded(connection: str | None, at: str | None, reason: str) -> Provenance:
    return Provenance(connection, datetime.fromisoformat(at) if at else None, reason)


def _encode_provenance(provenance: Mapping[str, Provenance]) -> dict[str, dict[str, str | None]]:
    return {name: _encoded(p) for name, p in provenance.items()}


def _decode_provenance(raw: Mapping[str, Any]) -> dict[str, Provenance]:
    return {name: _decoded(p["connection"], p["at"], p.get("reason", "")) for name, p in raw.items()}


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


UNIQUE_VIOLATION = "23505"
"""PostgreSQL's SQLSTATE for a duplicate key."""


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
        result = await self._db.execute(
            sa.select(records).where(among(self._db, records.c.canonical_id, canonical_ids))
        )
        return {row.canonical_id: _golden(row) for row in result}

    async def existing(self, canonical_ids: list[str]) -> set[str]:
        """Which of `canonical_ids` have a stored record (deleted ones too), without reading the records."""
        if not canonical_ids:
            return set()
        result = await self._db.execute(
            sa.select(records.c.canonical_id).where(among(self._db, records.c.canonical_id, canonical_ids))
        )
        return set(result.scalars())

    async def lock(self, canonical_ids: list[str]) -> None:
        """Hold the rows of `canonical_ids` until the transaction ends (PostgreSQL; SQLite's one writer already does).

        Taken, in id order, by whatever links a remote record to one of them where it had none in a connection, and
        by a create's settle there: the second to come then sees the first's link (READ COMMITTED reads again).
        """
        if not canonical_ids or self._db.dialect.name != "postgresql":
            return
        query = (
            sa.select(records.c.canonical_id)
            .where(among(self._db, records.c.canonical_id, sorted(set(canonical_ids))))
            .order_by(records.c.canonical_id)
            .with_for_update()
        )
        await self._db.execute(query)

    async def live(self, kind: str, canonical_ids: list[str]) -> set[str]:
        """Which of `canonical_ids` are stored records of `kind` not deleted, without reading the records."""
        if not canonical_ids:
            return set()
        result = await self._db.execute(
            sa.select(records.c.canonical_id).where(
                among(self._db, records.c.canonical_id, canonical_ids),
                records.c.kind == kind,
                records.c.deleted == sa.false(),
            )
        )
        return set(result.scalars())

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

    async def put_many(self, goldens: list[GoldenRecord]) -> None:
        """`put` for a batch: new records in one INSERT, the others in one versioned UPDATE.

        Raises StaleRecordError when any of them was written by someone else since it was read.
        """
        if not goldens:
            return
        now = self._clock()
        fresh = [g for g in goldens if g.version == 0]
        known = [g for g in goldens if g.version != 0]
        if fresh:
            ids = [g.record.id for g in fresh]
            taken = await self._db.execute(
                sa.select(records.c.canonical_id).where(among(self._db, records.c.canonical_id, ids))
            )
            clash = [row[0] for row in taken]
            if clash:
                raise StaleRecordError(f"golden record {clash[0]} already exists")
            try:
                await self._db.execute(
                    sa.insert(records), [{"canonical_id": g.record.id, **self._values(g, now)} for g in fresh]
                )
            except sa.exc.IntegrityError as exc:
                if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
                    raise
                # On PostgreSQL another transaction created one of them after the check above: the same
                # deterministic id for the same person, so the caller reconciles again and finds it.
                raise StaleRecordError(f"a golden record among {len(ids)} new ones was created meanwhile") from exc
        if not known:
            return
        statement = (
            sa.update(records)
            .where(records.c.canonical_id == sa.bindparam("b_id"), records.c.version == sa.bindparam("b_version"))
            .values({name: sa.bindparam(f"v_{name}") for name in self._values(known[0], now)})
        )
        rows = [
            {"b_id": g.record.id, "b_version": g.version, **{f"v_{k}": v for k, v in self._values(g, now).items()}}
            for g in known
        ]
        if not self._db.dialect.supports_sane_multi_rowcount:
            # asyncpg reports no row count for a batch: lock the rows and check their versions first (nobody
            # can change them before this transaction ends), then update them in one batch, not one by one.
            locked = await self._db.execute(
                sa.select(records.c.canonical_id, records.c.version)
                .where(among(self._db, records.c.canonical_id, [g.record.id for g in known]))
                .with_for_update()
            )
            current = {str(row[0]): int(row[1]) for row in locked}
            stale = sum(1 for g in known if current.get(g.record.id) != g.version)
            if stale:
                raise StaleRecordError(f"{stale} golden records changed since they were read")
            await self._db.execute(statement, rows)
            return
        result = await self._db.execute(statement, rows)
        if result.rowcount != len(known):
            raise StaleRecordError(f"{len(known) - result.rowcount} golden records changed since they were read")

    @staticmethod
    def _values(golden: GoldenRecord, now: datetime) -> dict[str, Any]:
        return {
            "kind": golden.record.kind,
            "fields": encode_fields(golden.record.fields),
            "provenance": _encode_provenance(golden.provenance),
            "links": {role: list(ids) for role, ids in golden.record.links.items()},
            "deleted": golden.deleted,
            "version": golden.version + 1,
            "updated_at": now,
        }

    async def delete(self, canonical_id: str) -> bool:
        """Remove a record for good (a merge loser); a propagated delete is `put` with deleted=True."""
        result = await self._db.execute(sa.delete(records).where(records.c.canonical_id == canonical_id))
        return result.rowcount > 0
