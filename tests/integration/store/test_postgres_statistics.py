"""After a bulk load, the state tables' statistics are refreshed, so PostgreSQL plans for their real size."""

from __future__ import annotations

import sqlalchemy as sa

from crmsync.store import Link, Store
from crmsync.store.store import BULK_TABLES


async def _reltuples(store: Store) -> dict[str, float]:
    async with store.read() as tx:
        rows = await tx.connection.execute(
            sa.text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(BULK_TABLES)},
        )
        return {str(name): float(tuples) for name, tuples in rows}


async def _plan(store: Store) -> str:
    async with store.read() as tx:
        return "\n".join(
            str(row[0])
            for row in await tx.connection.execute(
                sa.text(
                    "EXPLAIN SELECT canonical_id FROM links WHERE connection = 'hubspot' AND object = 'contacts' "
                    "AND remote_id = ANY(CAST(:ids AS text[]))"
                ),
                {"ids": ["1", "2", "3"]},
            )
        )


async def test_refreshed_statistics_count_the_rows_a_sync_stored(store: Store) -> None:
    async with store.begin() as tx:
        await tx.links.link_many([Link(f"c{n}", "contact", "hubspot", "contacts", str(n)) for n in range(2_000)])
    before = await _reltuples(store)
    assert before["links"] < 0  # never analyzed: the planner guesses, and guessed a handful of rows

    # Planned for a table of a few rows, the lookup walks every link of the object and filters them by id.
    assert "Filter: ((remote_id)::text = ANY" in await _plan(store)

    await store.refresh_statistics()

    after = await _reltuples(store)
    assert set(after) == set(BULK_TABLES)
    assert after["links"] == 2_000
    assert "remote_id)::text = ANY" in (await _plan(store)).split("Index Cond:", 1)[-1]  # looked up by id
