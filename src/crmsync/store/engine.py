"""Async engine creation: SQLite with the verified WAL + BEGIN IMMEDIATE recipe, or PostgreSQL by URL."""

from __future__ import annotations

import os
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crmsync.errors import ConfigError

READ_ONLY = "crmsync_read_only"
"""Execution option: on SQLite, begin with a plain (deferred) BEGIN so readers do not queue behind writers."""

BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT = 4 * 1024 * 1024
"""Bytes the -wal file is cut back to whenever SQLite starts it again after a complete checkpoint. Without a limit
the file keeps its high-water mark (up to the 64 MB of `wal_autocheckpoint`) for as long as the database is open;
`Store.checkpoint` truncates it to nothing when no reader is in the way."""

_SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    "foreign_keys=ON",
    # Check the WAL back into the database every 64 MB instead of every 4 MB: a page rewritten by several
    # transactions in between is copied once.
    "wal_autocheckpoint=16384",
    f"journal_size_limit={WAL_SIZE_LIMIT}",
)


def normalise_url(url: str | URL) -> URL:
    """Accept `sqlite:///x.db` and `postgresql://…` and pick the async drivers crmsync uses."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file::memory:"):
            # Each pooled connection would see its own empty database; only files are supported.
            raise ConfigError("the state database must be a SQLite file or PostgreSQL, not in-memory SQLite")
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise ConfigError(f"unsupported state database {parsed.drivername!r}: use sqlite:///path or postgresql://…")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(value: Any) -> Any:
    # SQLite's numeric affinity turns a JSON column holding `5` into the integer 5: it is already decoded.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


WRITER_CACHE_KIB = 16_384
"""SQLite page cache of the writing connection. A chunk of records dirties pages all over the keyed indexes
(canonical ids are hashes), more than SQLite's default 2 MB holds; the one writer keeps its cache from one
transaction to the next, as no other connection of the process changes the file under it. A 65k-record
first sync took as long with 8, 16 or 32 MB (116–118 s); 32 MB cost 21 MB more peak RSS than 16."""

READER_CACHE_KIB = 2_048
"""SQLite page cache of each reading connection (SQLite's default size). A reader drops its cache whenever
another connection has written since its last read, which during a sync is every time: a larger one only grew
the RSS (65k-record first sync: 289 MB peak with 2 MB, 296 MB with 4 MB, 391 MB with 32 MB; the same time)."""


def create_private_sqlite_file(url: str | URL) -> None:
    """Create the SQLite file of `url`, readable and writable by its owner only, when it does not exist yet.

    The state holds personal data (names, emails, phones). SQLite gives a database's -wal and -shm files the
    mode of the database file, so they are private too. An existing file keeps the mode its owner chose.
    """
    database = normalise_url(url).database
    if not database or database.startswith("file:"):
        return
    try:
        descriptor = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def is_sqlite(url: str | URL) -> bool:
    return normalise_url(url).get_backend_name() == "sqlite"


def create_engine(url: str | URL, *, writer: bool = False, **kwargs: Any) -> AsyncEngine:
    """The engine for the state database, configured so that concurrent writers never lose updates.

    `writer` (SQLite): the engine of the process's one writing connection, a pool of one with the larger
    page cache; the process's transactions take turns on it (`Store.begin`).
    """
    parsed = normalise_url(url)
    # JSON columns (fields, payloads) are most of what is written and read: orjson is several times faster.
    kwargs.setdefault("json_serializer", _dumps)
    kwargs.setdefault("json_deserializer", _loads)
    if parsed.get_backend_name() == "sqlite":
        if writer:
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
        engine = create_async_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine, WRITER_CACHE_KIB if writer else READER_CACHE_KIB)
        return engine
    return create_async_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: AsyncEngine, cache_kib: int) -> None:
    # pysqlite's legacy transaction handling does not BEGIN before a SELECT, so a read-modify-write
    # across processes silently loses updates (ecosystem notes §C.4). Let SQLAlchemy emit BEGIN,
    # and take the write lock up front so a transaction never fails on a lock upgrade.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in (*_SQLITE_PRAGMAS, f"cache_size=-{int(cache_kib)}"):
                cursor.execute(f"PRAGMA {pragma}")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
