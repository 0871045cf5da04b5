"""Seeing from outside that a PostgreSQL transaction waits for another (a test's cue to let the first go on)."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store import Store


async def someone_waits_for_a_row(store: Store) -> bool:
    """Whether a transaction waits for another's row (a row lock is a wait on the holder's transaction id)."""
    async with store.begin() as tx:
        waiting = await tx.connection.scalar(
            sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
        )
    return bool(waiting)
