"""Engine creation: URL handling, the SQLite recipe's pragmas, and no lost update between connections."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from crmsync.errors import ConfigError
from crmsync.store import Store, open_store
from crmsync.store.engine import create_engine, normalise_url
from crmsync.store.tables import cursors


def test_urls_pick_the_async_drivers() -> None:
    assert normalise_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("postgresql+asyncpg://u@h/db").drivername == "postgresql+asyncpg"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite://", "mysql://h/db"])
def test_in_memory_sqlite_and_other_databases_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        normalise_url(url)


async def test_sqlite_connections_use_wal_and_the_safety_pragmas(store: Store) -> None:
    async with store.engine.connect() as connection:
        pragmas = {
            name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "busy_timeout",
                "foreign_keys",
                "cache_size",
                "wal_autocheckpoint",
                "journal_size_limit",
            )
        }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
        "cache_size": -16384,  # in KiB: bounded, whatever the page size (the writer's; readers keep less)
        "wal_autocheckpoint": 16384,
        "journal_size_limit": 4 * 1024 * 1024,  # the -wal file shrinks back to this when SQLite restarts it
    }


async def test_a_sqlite_store_writes_through_one_connection_and_reads_through_others(store: Store) -> None:
    """The writer keeps its larger page cache from one transaction to the next; readers keep a small one."""
    writers: set[int] = set()
    for number in range(3):
        async with store.begin() as tx:
            await tx.cursors.put("test", "object", str(number))
            writers.add(id((await tx.connection.get_raw_connection()).driver_connection))
    async with store.read() as tx:
        assert await tx.cursors.get("test", "object") == "2"  # what the writer committed
        reader = id((await tx.connection.get_raw_connection()).driver_connection)
        cache = (await tx.connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    assert len(writers) == 1 and reader not in writers
    assert cache == -2048


async def test_concurrent_read_modify_write_loses_no_update(tmp_path: Path) -> None:
    # The pysqlite default (no BEGIN before SELECT) lost most of these updates (ecosystem notes §C.4).
    engine = create_engine(f"sqlite:///{tmp_path / 'counter.db'}", pool_size=4)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        await connection.exec_driver_sql("INSERT INTO counter VALUES (0)")

    async def bump(times: int) -> None:
        for _ in range(times):
            async with engine.begin() as connection:
                n = (await connection.execute(sa.text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # let the other tasks interleave between read and write
                await connection.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})

    await asyncio.gather(*(bump(25) for _ in range(4)))
    async with engine.connect() as connection:
        assert (await connection.execute(sa.text("SELECT n FROM counter"))).scalar_one() == 100
    await engine.dispose()


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 27, 19, 55, 0, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 6, 1, 2, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
async def test_sqlite_timestamps_are_the_text_sqlalchemys_datetime_writes_and_read_back_as_utc(
    store: Store, value: datetime
) -> None:
    """State written before timestamps were formatted by `isoformat` compares and sorts with what is written now."""
    naive_utc = value.astimezone(UTC).replace(tzinfo=None)
    sqlalchemys_own = sqlite.DATETIME().bind_processor(sqlite.dialect())  # type: ignore[no-untyped-call]
    assert sqlalchemys_own is not None
    expected = sqlalchemys_own(naive_utc)
    async with store.engine.begin() as connection:
        await connection.execute(sa.insert(cursors).values(connection="c", object="o", cursor="x", updated_at=value))
        stored = (await connection.exec_driver_sql("SELECT updated_at FROM cursors")).scalar_one()
        read = (await connection.execute(sa.select(cursors.c.updated_at))).scalar_one()
    assert stored == expected
    assert read == value and read.tzinfo is UTC


async def test_a_new_sqlite_state_file_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await open_store(f"sqlite:///{path}")
    try:
        async with store.begin() as tx:
            await tx.cursors.put("sf", "Contact", "2026-01-01T00:00:00Z|003A")
        files = [path, tmp_path / "state.db-wal", tmp_path / "state.db-shm"]
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}
    finally:
        await store.aclose()
    kept = tmp_path / "shared.db"
    kept.touch(mode=0o640)
    os.chmod(kept, 0o640)  # an existing file keeps the mode its owner chose
    await (await open_store(f"sqlite:///{kept}")).aclose()
    assert kept.stat().st_mode & 0o777 == 0o640


async def grow_wal(store: Store, megabytes: int) -> None:
    """Commit about `megabytes` of cursor rows, each transaction adding frames to the WAL."""
    for batch in range(megabytes):
        async with store.begin() as tx:
            for n in range(64):
                await tx.cursors.put("wal", f"{batch}-{n}", os.urandom(8_192).hex())


def wal_bytes(store_url: str) -> int:
    return os.path.getsize(store_url.removeprefix("sqlite:///") + "-wal")


async def test_a_checkpoint_truncates_the_wal_once_no_reader_holds_it(store: Store, store_url: str) -> None:
    """Readers that never let go kept the -wal file at its high-water mark; a checkpoint between passes empties it."""
    await grow_wal(store, 4)
    assert wal_bytes(store_url) > 4_000_000
    async with store.read() as reading:
        await reading.cursors.get("wal", "0-0")  # a reader inside its snapshot, as the dashboard's may be
        held = await store.checkpoint()
        assert held is not None and held.busy  # it never waits for the reader
        assert held.copied_frames == held.wal_frames > 0  # but copies every frame it can
        assert wal_bytes(store_url) > 4_000_000
    done = await store.checkpoint()
    assert done is not None and not done.busy
    assert wal_bytes(store_url) == 0
    async with store.begin() as tx:  # the writer still works, and its busy timeout is back
        await tx.cursors.put("wal", "after", "x")
        assert (await tx.connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 30_000
    async with store.read() as tx:
        assert await tx.cursors.get("wal", "after") == "x" and await tx.cursors.get("wal", "3-63") is not None


async def test_a_wal_checked_in_shrinks_to_the_size_limit_when_sqlite_restarts_it(store: Store, store_url: str) -> None:
    """`journal_size_limit`: the backstop when checkpoints keep meeting readers."""
    await grow_wal(store, 6)
    async with store.read() as reading:
        await reading.cursors.get("wal", "0-0")
        assert (await store.checkpoint()).busy  # type: ignore[union-attr]
    assert wal_bytes(store_url) > 6_000_000
    async with store.begin() as tx:  # the first write after a complete checkpoint starts the WAL again
        await tx.cursors.put("wal", "restart", "x")
    assert wal_bytes(store_url) <= 4 * 1024 * 1024
