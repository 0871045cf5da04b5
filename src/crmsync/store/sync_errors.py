"""Sync errors: records that could not be read or written, kept until fixed, cleared or retried."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among
from crmsync.store.tables import sync_errors
from crmsync.store.values import Clock, SyncError, SyncErrorReport


def _sync_error(row: sa.Row[tuple[object, ...]]) -> SyncError:
    report = SyncErrorReport(
        connection=row.connection,
        object=row.object,
        operation=row.operation,
        message=row.message,
        canonical_id=row.canonical_id,
        remote_id=row.remote_id,
        field=row.field,
        code=row.code,
    )
    return SyncError(row.id, report, row._mapping["count"], row.first_seen, row.last_seen)


def _subject(
    connection: str, object: str, canonical_id: str | None, remote_id: str | None
) -> tuple[sa.ColumnElement[bool], ...]:
    # NULL-safe equality: a record known only by its remote id (or only canonically) is still one subject.
    return (
        sync_errors.c.connection == connection,
        sync_errors.c.object == object,
        sync_errors.c.canonical_id.is_not_distinct_from(canonical_id),
        sync_errors.c.remote_id.is_not_distinct_from(remote_id),
    )


class SyncErrors:
    """Record, list and clear sync errors; a repeated error on the same subject is counted, not duplicated."""

    def __init__(self, connection: AsyncConnection, clock: Clock) -> None:
        self._db = connection
        self._clock = clock

    async def record(self, report: SyncErrorReport) -> SyncError:
        now = self._clock()
        subject = (
            *_subject(report.connection, report.object, report.canonical_id, report.remote_id),
            sync_errors.c.operation == report.operation,
        )
        latest: dict[str, Any] = {
            "message": report.message,
            "field": report.field,
            "code": report.code,
            "last_seen": now,
        }
        updated = await self._db.execute(
            sa.update(sync_errors)
            .where(*subject)
            .values(count=sync_errors.c.count + 1, **latest)
            .returning(sync_errors.c.id)
        )
        error_id = updated.scalar_one_or_none()
        if error_id is None:
            inserted = await self._db.execute(
                sa.insert(sync_errors)
                .values(
                    connection=report.connection,
                    object=report.object,
                    operation=report.operation,
                    canonical_id=report.canonical_id,
                    remote_id=report.remote_id,
                    count=1,
                    first_seen=now,
                    **latest,
                )
                .returning(sync_errors.c.id)
            )
            error_id = inserted.scalar_one()
        row = (await self._db.execute(sa.select(sync_errors).where(sync_errors.c.id == error_id))).one()
        return _sync_error(row)

    async def list(self, connection: str | None = None, canonical_id: str | None = None) -> list[SyncError]:
        query = sa.select(sync_errors).order_by(sync_errors.c.id)
        if connection is not None:
            query = query.where(sync_errors.c.connection == connection)
        if canonical_id is not None:
            query = query.where(sync_errors.c.canonical_id == canonical_id)
        return [_sync_error(row) for row in await self._db.execute(query)]

    async def get_many(self, error_ids: builtins.list[int]) -> dict[int, SyncError]:
        """The errors among `error_ids` that exist, by id (an operator's retry of a few, out of many)."""
        found: dict[int, SyncError] = {}
        for start in range(0, len(error_ids), 500):
            query = sa.select(sync_errors).where(among(self._db, sync_errors.c.id, error_ids[start : start + 500]))
            found.update((error.id, error) for error in map(_sync_error, await self._db.execute(query)))
        return found

    async def about(self, canonical_id: str, remotes: Collection[tuple[str, str]]) -> builtins.list[SyncError]:
        """One record's errors, oldest first: those filed under its canonical id, and those filed under one of
        its (connection, remote id) pairs (an error met before the record had a canonical id)."""
        conditions = [sync_errors.c.canonical_id == canonical_id]
        conditions += [
            sa.and_(sync_errors.c.connection == connection, sync_errors.c.remote_id == remote_id)
            for connection, remote_id in sorted(remotes)
        ]
        query = sa.select(sync_errors).where(sa.or_(*conditions)).order_by(sync_errors.c.id)
        return [_sync_error(row) for row in await self._db.execute(query)]

    async def clear(
        self, connection: str, object: str, *, canonical_id: str | None = None, remote_id: str | None = None
    ) -> int:
        """Forget a subject's errors (it synced fine); returns how many were cleared."""
        query = sa.delete(sync_errors).where(*_subject(connection, object, canonical_id, remote_id))
        return (await self._db.execute(query)).rowcount

    async def clear_many(self, connection: str, object: str, canonical_ids: builtins.list[str]) -> int:
        """Clear the write and read errors of many records (not their duplicate-group reports), in few statements."""
        cleared = 0
        for start in range(0, len(canonical_ids), 500):
            chunk = canonical_ids[start : start + 500]
            query = sa.delete(sync_errors).where(
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.canonical_id, chunk),
                # A duplicate group is about the other records: the survivor's good write does not settle it.
                sync_errors.c.operation != "link",
            )
            cleared += (await self._db.execute(query)).rowcount
        return cleared

    async def clear_id(self, error_id: int) -> bool:
        return (await self._db.execute(sa.delete(sync_errors).where(sync_errors.c.id == error_id))).rowcount > 0
