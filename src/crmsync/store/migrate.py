"""Schema migrations applied programmatically: migrate an older database, refuse a newer one."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import crmsync
from crmsync.store.errors import StoreVersionError
from crmsync.store.tables import SCHEMA_VERSION, schema_version

_SCRIPTS = Path(__file__).with_name("migrations")
# Any constant works: it only serialises crmsync processes migrating one PostgreSQL database at once.
_PG_MIGRATION_LOCK = 0x63726D73


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _check_not_newer(connection: Connection, scripts: ScriptDirectory) -> None:
    revision = current_revision(connection)
    if revision is None:
        return
    try:
        known = scripts.get_revision(revision)
    except CommandError:
        known = None
    if known is not None:
        return
    stored = _stored_version(connection)
    written_by = f" by crmsync {stored[1]}" if stored else ""
    version = f"schema {stored[0]}, revision {revision}" if stored else f"revision {revision}"
    raise StoreVersionError(
        f"the state database was written{written_by} ({version}), newer than this crmsync "
        f"{crmsync.__version__} (schema {SCHEMA_VERSION}, revision {scripts.get_current_head()}); "
        "upgrade crmsync or point it at another database"
    )


def _stored_version(connection: Connection) -> tuple[int, str] | None:
    if not sa.inspect(connection).has_table("schema_version"):
        return None
    row = connection.execute(sa.select(schema_version.c.version, schema_version.c.written_by)).first()
    return (int(row.version), str(row.written_by)) if row else None


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the database to `revision` inside the caller's transaction, or refuse a newer one."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    config = _config(connection)
    _check_not_newer(connection, ScriptDirectory.from_config(config))
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(upgrade, revision)
