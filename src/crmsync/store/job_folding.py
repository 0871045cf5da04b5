"""Giving held jobs back to pending while keeping one pending job per key and kind (the queue's folding rule).

A job given back (failed, released, reaped or retried) meets any newer job of its key and kind queued while it
ran: the newer one is folded into it, so the job keeps its place in its key's order and carries the newest payload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.among import among, chunks
from crmsync.store.job_statements import status_is
from crmsync.store.tables import UtcDateTime, jobs

_T = TypeVar("_T")

_GIVE_BACK_TRIES = 5
_UNIQUE_VIOLATION = "23505"


def _breaks_pending_key(exc: sa.exc.IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION and "ux_jobs_pending_key" in str(exc.orig)


async def give_back(db: AsyncConnection, job_ids: Sequence[int], give: Callable[[], Awaitable[_T]]) -> _T:
    """Run `give`, which sets some of `job_ids` back to pending, keeping one pending job per key and kind.

    A pending job of the same key and kind queued while one of them was running or dead is newer: it is
    folded into the one given back, which keeps its place in its key's order and takes the newer payload,
    the earlier `run_after` and the higher priority. On PostgreSQL an enqueue can queue another such job
    between the fold and `give`; `give` then breaks the unique index, and both run again, in a savepoint.
    """
    for attempt in range(1, _GIVE_BACK_TRIES + 1):
        if db.dialect.name != "postgresql":  # one writer at a time: nothing can come between
            folded = await _fold_newer(db, job_ids)
            given = await give()
            await _absorb(db, folded)
            return given
        try:
            async with db.begin_nested():
                folded = await _fold_newer(db, job_ids)
                given = await give()
                await _absorb(db, folded)
                return given
        except sa.exc.IntegrityError as exc:
            if attempt == _GIVE_BACK_TRIES or not _breaks_pending_key(exc):
                raise
    raise AssertionError("unreachable")


async def _fold_newer(db: AsyncConnection, job_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Delete the pending jobs that share a key and kind with one of `job_ids`; what each of those takes."""
    given = jobs.alias("given")
    taken: list[dict[str, Any]] = []
    for chunk in chunks(job_ids):
        pairs = sa.select(given.c.key, given.c.kind).where(among(db, given.c.id, chunk), given.c.coalesces)
        owners = {
            (row.key, row.kind): int(row.id)
            for row in await db.execute(
                sa.select(given.c.id, given.c.key, given.c.kind).where(among(db, given.c.id, chunk), given.c.coalesces)
            )
        }
        if not owners:
            continue
        deleted = await db.execute(
            sa.delete(jobs)
            .where(status_is(jobs.c.status, "pending"), jobs.c.coalesces, sa.tuple_(jobs.c.key, jobs.c.kind).in_(pairs))
            .returning(jobs.c.id, jobs.c.key, jobs.c.kind, jobs.c.payload, jobs.c.run_after, jobs.c.priority)
        )
        newest: dict[tuple[str, str], Any] = {}
        for row in deleted:
            pair = (row.key, row.kind)
            if pair not in newest or row.id > newest[pair].id:
                newest[pair] = row
        taken += [
            {"job_id": owners[pair], "payload": row.payload, "run_after": row.run_after, "priority": row.priority}
            for pair, row in newest.items()
        ]
    return taken


async def _absorb(db: AsyncConnection, folded: list[dict[str, Any]]) -> None:
    """Give each job given back what its folded newer job carried (after `give` set its own values)."""
    if not folded:
        return
    await db.execute(
        sa.update(jobs)
        .where(jobs.c.id == sa.bindparam("job_id"), status_is(jobs.c.status, "pending"))
        .values(
            payload=sa.bindparam("payload", type_=sa.JSON),
            run_after=sa.case(
                (
                    jobs.c.run_after > sa.bindparam("run_after", type_=UtcDateTime),
                    sa.bindparam("run_after", type_=UtcDateTime),
                ),
                else_=jobs.c.run_after,
            ),
            priority=sa.case(
                (jobs.c.priority < sa.bindparam("priority"), sa.bindparam("priority")), else_=jobs.c.priority
            ),
        )
        .execution_options(synchronize_session=False),
        folded,
    )


__all__ = ["give_back"]
