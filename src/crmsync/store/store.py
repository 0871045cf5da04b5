"""The state store: an engine, its schema brought up to date, and transactions that bundle the repositories."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crmsync.store.audit import Audit
from crmsync.store.conflicts import Conflicts
from crmsync.store.cursors import Cursors
from crmsync.store.engine import BUSY_TIMEOUT_MS, READ_ONLY, create_engine, create_private_sqlite_file, is_sqlite
from crmsync.store.identity import IdentityMap
from crmsync.store.jobs import JobQueue
from crmsync.store.kept_out import KeptOut
from crmsync.store.leases import Leases
from crmsync.store.match_keys import MatchKeys
from crmsync.store.migrate import migrate
from crmsync.store.rate_windows import RateWindows
from crmsync.store.read_fields import ReadFields
from crmsync.store.records import GoldenRecords
from crmsync.store.shadows import Shadows
from crmsync.store.sync_errors import SyncErrors
from crmsync.store.values import Clock, RetryPolicy

BULK_TABLES = ("links", "shadows", "records", "match_keys", "jobs", "audit")
"""The tables whose size a full sync changes by orders of magnitude."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Transaction:
    """Every repository bound to one database transaction: what is written here commits together."""

    def __init__(self, connection: AsyncConnection, clock: Clock, policy: RetryPolicy) -> None:
        self.connection = connection
        self.links = IdentityMap(connection, clock)
        self.keys = MatchKeys(connection)
        self.kept_out = KeptOut(connection, clock)
        self.leases = Leases(connection, clock)
        self.shadows = Shadows(connection, clock)
        self.records = GoldenRecords(connection, clock)
        self.cursors = Cursors(connection, clock)
        self.read_fields = ReadFields(connection, clock)
        self.conflicts = Conflicts(connection, clock)
        self.errors = SyncErrors(connection, clock)
        self.audit = Audit(connection)
        self.jobs = JobQueue(connection, clock, policy)
        self.rate_windows = RateWindows(connection)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What `Store.checkpoint` did: `busy` when the WAL could not be truncated (a reader or writer used it)."""

    busy: bool
    wal_frames: int  # frames in the WAL before the truncation (-1 when not in WAL mode)
    copied_frames: int  # of those, frames copied into the database


class Store:
    """The state database. Open it with `open_store`; use `begin()` for writes and `read()` for reads."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        reader: AsyncEngine | None = None,
        clock: Clock = utc_now,
        policy: RetryPolicy | None = None,
    ) -> None:
        """`engine` writes (and reads); `reader`, when given, serves `read()` (on SQLite, see `open_store`)."""
        self.engine = engine
        self._reader = reader or engine
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self._writer: asyncio.Lock | None = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Transaction]:
        """A write transaction: commits on success, rolls back on an exception.

        On SQLite it takes the database's write lock at BEGIN, so keep it short and never hold it
        across a call to a CRM.
        """
        if self._writer is None:
            async with self.engine.begin() as connection:
                yield Transaction(connection, self.clock, self.policy)
            return
        # SQLite has one writer at a time; tasks of this process queue here instead of in SQLite's busy
        # handler, which polls with sleeps of up to 100 ms (other processes still meet that handler).
        async with self._writer, self.engine.begin() as connection:
            yield Transaction(connection, self.clock, self.policy)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """A read-only transaction (a consistent snapshot that does not queue behind writers on SQLite)."""
        # The connection begins on first use (with a deferred BEGIN on SQLite) and rolls back on close.
        async with self._reader.connect() as plain:
            connection = await plain.execution_options(**{READ_ONLY: True})
            yield Transaction(connection, self.clock, self.policy)

    async def refresh_statistics(self) -> None:
        """On PostgreSQL, ANALYZE the tables a sync fills, after it has changed many rows at once.

        Plans follow table statistics, which autovacuum refreshes only now and then (and never where it is
        off). Planned on a nearly empty table, a link lookup by `remote_id = ANY(...)` scanned every link of
        the object: the 65k-record engine benchmark read 46 million rows by sequential scans. SQLite plans
        without statistics.
        """
        if self.dialect != "postgresql":
            return
        async with self.engine.begin() as connection:
            await connection.exec_driver_sql(f"ANALYZE {', '.join(BULK_TABLES)}")

    async def checkpoint(self) -> Checkpoint | None:
        """On SQLite, copy the WAL into the database and truncate it to nothing if no reader still uses it.

        SQLite checks the WAL back in only when it reaches `wal_autocheckpoint` pages, and a checkpoint never
        shrinks the file: under `crmsync serve`, with readers (the dashboard, the receiver) nearly always
        open, the -wal file stayed at its high-water mark (66 MB). A service calls this between passes. It
        never waits: when another process writes or a reader still reads the WAL, it copies what it can,
        reports `busy`, and the next call (or `journal_size_limit` when the WAL restarts) finishes the job.
        None on PostgreSQL.
        """
        if self._writer is None:
            return None
        async with self._writer, self.engine.connect() as connection:
            # Outside a transaction (a checkpoint cannot run inside one): the raw driver connection, so that
            # SQLAlchemy emits no BEGIN IMMEDIATE first.
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("PRAGMA busy_timeout=0")
            try:
                cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, frames, copied = await cursor.fetchone()
                await cursor.close()
            finally:
                await driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return Checkpoint(busy=bool(busy), wal_frames=int(frames), copied_frames=int(copied))

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self._reader is not self.engine:
            await self._reader.dispose()


async def open_store(
    url: str | URL, *, clock: Clock = utc_now, policy: RetryPolicy | None = None, migrate_schema: bool = True
) -> Store:
    """Open the state database at `url` and migrate it to this crmsync's schema.

    `sqlite:///path` (the default kind) or `postgresql://…`. An older database is migrated; one
    written by a newer crmsync raises StoreVersionError naming both versions.

    On SQLite the process writes through one connection and reads through others: the writer's page cache
    then stays valid between its transactions (a connection drops its cache when another one has written).
    """
    sqlite = is_sqlite(url)
    if sqlite:
        create_private_sqlite_file(url)
    engine = create_engine(url, writer=sqlite)
    reader = create_engine(url) if sqlite else None
    try:
        if migrate_schema:
            await migrate(engine)
    except BaseException:
        await engine.dispose()
        if reader is not None:
            await reader.dispose()
        raise
    return Store(engine, reader=reader, clock=clock, policy=policy)
