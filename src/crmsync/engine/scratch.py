"""A scratch copy of the state database, so `sync --dry-run` runs the real engine and changes nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crmsync.store import Store, open_store
from crmsync.store.tables import metadata

CHUNK = 5000


async def scratch_copy(store: Store, directory: Path) -> Store:
    """A SQLite copy of `store` (either backend) in `directory`; the caller closes it and removes the file."""
    target = await open_store(f"sqlite:///{directory / 'dry-run.db'}", clock=store.clock, policy=store.policy)
    async with store.read() as source, target.begin() as sink:
        for table in metadata.sorted_tables:
            if table.name == "schema_version":
                continue
            result = await source.connection.stream(sa.select(table))
            async for rows in result.partitions(CHUNK):
                await sink.connection.execute(sa.insert(table), [dict(row._mapping) for row in rows])
    return target


__all__ = ["scratch_copy"]
