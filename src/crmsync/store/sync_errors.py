"""Sync errors: records that could not be read or written, kept until fixed, cleared or retried."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among, chunks
from crmsync.store.tables import sync_errors
from crmsync.store.values import Clock, SyncError, SyncErrorReport

_K = TypeVar("_K")


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

    async def replace(
        self,
        connection: str,
        object: str,
        operations: Collection[str],
        reports: Mapping[str, Sequence[SyncErrorReport]],
    ) -> None:
        """Records just read or written: their errors of `operations` become exactly these reports.

        `reports` maps canonical ids to what the read (or the write) met, maybe nothing. A problem met again
        (same operation and field) is counted again, a new one is added, one the record no longer has (its
        value fixed in the CRM, the value map completed, the write gone through) is cleared: an error is the
        record's state, not its history. A few statements per page or batch, instead of three per problem.
        """
        now = self._clock()
        existing: dict[tuple[str, str, str | None], builtins.list[int]] = {}
        canonical_ids = sorted(reports)
        for chunk in chunks(canonical_ids):
            query = (
                sa.select(sync_errors.c.id, sync_errors.c.canonical_id, sync_errors.c.operation, sync_errors.c.field)
                .where(
                    sync_errors.c.connection == connection,
                    sync_errors.c.object == object,
                    among(self._db, sync_errors.c.canonical_id, chunk),
                    sync_errors.c.operation.in_(sorted(operations)),
                )
                .order_by(sync_errors.c.id)
            )
            for row in await self._db.execute(query):
                existing.setdefault((row.canonical_id, row.operation, row.field), []).append(row.id)
        again: builtins.list[dict[str, Any]] = []
        new: builtins.list[dict[str, Any]] = []
        for canonical_id, met in reports.items():
            for report in met:
                if report.operation not in operations or report.canonical_id != canonical_id:
                    raise ValueError(f"a {report.operation} error of {report.canonical_id} filed under {canonical_id}")
                latest = {
                    "message": report.message,
                    "code": report.code,
                    "remote_id": report.remote_id,
                    "last_seen": now,
                }
                kept = existing.get((canonical_id, report.operation, report.field))
                if kept:
                    again.append({"error_id": kept.pop(0), **latest})
                else:
                    new.append(
                        {
                            "connection": connection,
                            "object": object,
                            "operation": report.operation,
                            "canonical_id": canonical_id,
                            "field": report.field,
                            "count": 1,
                            "first_seen": now,
                            **latest,
                        }
                    )
        if again:
            await self._db.execute(
                sa.update(sync_errors)
                .where(sync_errors.c.id == sa.bindparam("error_id"))
                .values(
                    count=sync_errors.c.count + 1,
                    message=sa.bindparam("message"),
                    code=sa.bindparam("code"),
                    remote_id=sa.bindparam("remote_id"),
                    last_seen=sa.bindparam("last_seen"),
                ),
                again,
            )
        if new:
            await self._db.execute(sa.insert(sync_errors), new)
        gone = sorted(error_id for ids in existing.values() for error_id in ids)
        for gone_ids in chunks(gone):
            await self._db.execute(sa.delete(sync_errors).where(among(self._db, sync_errors.c.id, gone_ids)))

    async def refused(self, connection: str, object: str, canonical_ids: Sequence[str]) -> set[str]:
        """Those of `canonical_ids` with an open create or update error in this connection."""
        found: set[str] = set()
        for chunk in chunks(canonical_ids):
            query = sa.select(sync_errors.c.canonical_id).where(
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.canonical_id, chunk),
                sync_errors.c.operation.in_(("create", "update")),
            )
            found.update(str(canonical_id) for canonical_id in (await self._db.execute(query)).scalars())
        return found

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
        for chunk in chunks(error_ids):
            query = sa.select(sync_errors).where(among(self._db, sync_errors.c.id, chunk))
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
        """Clear the write errors of many records, in few statements.

        Not their duplicate-group reports (about the other records: the survivor's good write does not settle
        them), nor their read errors: a good write to a CRM fixes no value it did not write there (those it
        wrote: `clear_overwritten`), and the next read of the record says whether it still has it (`replace`).
        """
        return await self._delete_chunked(
            canonical_ids,
            lambda chunk: (
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.canonical_id, chunk),
                sync_errors.c.operation.not_in(("link", "read")),
            ),
        )

    async def clear_coded(
        self, connection: str, object: str, operation: str, codes: Collection[str], canonical_ids: Sequence[str]
    ) -> int:
        """The errors of one operation and one of `codes` about these records (a condition they were reported for is
        over: a child written with no link left out), one statement a chunk."""
        return await self._delete_chunked(
            sorted(set(canonical_ids)),
            lambda chunk: (
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.canonical_id, chunk),
                sync_errors.c.operation == operation,
                sync_errors.c.code.in_(sorted(codes)),
            ),
        )

    async def clear_remote(self, connection: str, object: str, remote_ids: Collection[str]) -> int:
        """Every error about these records of one CRM, under any canonical record: they left it (deleted there,
        merged away, deleted by crmsync as a duplicate), so nothing about them is left to fix."""
        return await self._delete_chunked(
            sorted(remote_ids),
            lambda chunk: (
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.remote_id, chunk),
            ),
        )

    async def clear_reads(self, connection: str, object: str, read: Mapping[str, str]) -> int:
        """The read errors of records just read without a problem (remote id -> canonical id): one statement a
        chunk, found through the canonical ids' index, matching nothing in the common case."""
        return await self._delete_chunked(
            sorted(read),
            lambda chunk: (
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.canonical_id, sorted({read[r] for r in chunk})),
                among(self._db, sync_errors.c.remote_id, chunk),
                sync_errors.c.operation == "read",
            ),
        )

    async def clear_overwritten(self, connection: str, object: str, written: Mapping[str, Collection[str]]) -> int:
        """Read errors about values crmsync has just replaced (remote id -> the canonical fields written there):
        the value a read could not take is no longer in the CRM, and the next read says what is. A select per
        chunk through the remote ids' index, matching nothing in the common case."""
        remote_ids = sorted(r for r, fields in written.items() if fields)
        gone: list[int] = []
        for chunk in chunks(remote_ids):
            query = sa.select(sync_errors.c.id, sync_errors.c.remote_id, sync_errors.c.field).where(
                sync_errors.c.connection == connection,
                sync_errors.c.object == object,
                among(self._db, sync_errors.c.remote_id, chunk),
                sync_errors.c.operation == "read",
            )
            gone += [row.id for row in await self._db.execute(query) if row.field in written[row.remote_id]]
        return await self._delete_chunked(gone, lambda chunk: (sync_errors.c.id.in_(chunk),))

    async def _delete_chunked(
        self, keys: Sequence[_K], where: Callable[[Sequence[_K]], tuple[sa.ColumnElement[bool], ...]]
    ) -> int:
        """Delete the errors `where` picks for each chunk of `keys`, one statement a chunk; how many went."""
        deleted = 0
        for chunk in chunks(keys):
            deleted += (await self._db.execute(sa.delete(sync_errors).where(*where(chunk)))).rowcount
        return deleted

    async def clear_record(self, connection: str, object: str, canonical_id: str) -> int:
        """A canonical record's errors in one CRM, its duplicate reports aside: its record there is gone, so
        what reading or writing it met is moot; the duplicates reported behind it are other records."""
        query = sa.delete(sync_errors).where(
            sync_errors.c.connection == connection,
            sync_errors.c.object == object,
            sync_errors.c.canonical_id == canonical_id,
            sync_errors.c.operation != "link",
        )
        return (await self._db.execute(query)).rowcount

    async def clear_writes(self, canonical_id: str) -> int:
        """A canonical record's create and update errors in every CRM: it was deleted or merged into another,
        so its values are written nowhere any more."""
        query = sa.delete(sync_errors).where(
            sync_errors.c.canonical_id == canonical_id, sync_errors.c.operation.in_(("create", "update"))
        )
        return (await self._db.execute(query)).rowcount

    async def move(self, error_ids: Collection[int], canonical_id: str) -> None:
        """File these errors under another canonical record (a merge retired theirs; their records are its now)."""
        ids = sorted(error_ids)
        for chunk in chunks(ids):
            await self._db.execute(
                sa.update(sync_errors).where(among(self._db, sync_errors.c.id, chunk)).values(canonical_id=canonical_id)
            )

    async def clear_id(self, error_id: int) -> bool:
        return (await self._db.execute(sa.delete(sync_errors).where(sync_errors.c.id == error_id))).rowcount > 0
