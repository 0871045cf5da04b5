"""The engine on either state backend, for races whose outcome depends on it: import `either_database`, `crm_on_either`.

SQLite has one writer; PostgreSQL runs READ COMMITTED, where record locks and the queue's per-key order matter.
A test module that imports both (the fixtures `database` and `crm`), and `postgres_url` from the store tests'
conftest, runs each of its tests on both backends (PostgreSQL mandatory under CI=true).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from crmsync.emulators.registry import VendorName
from crmsync.engine.outbox import refetch_job
from crmsync.store import NewJob, open_store
from crmsync.testing.sandbox import Sandbox
from tests.integration.engine.conftest import Crm
from tests.integration.store.conftest import empty_schema, postgres_url  # noqa: F401  (the session's PostgreSQL database)


@pytest.fixture(name="database", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_database(request: pytest.FixtureRequest) -> str | None:
    """The session's PostgreSQL database, or None for SQLite (asked for only when needed: it may be absent)."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgresql" else None


@pytest.fixture(name="crm")
async def crm_on_either(database: str | None, sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Crm]:
    """The engine on SQLite (one writer) or on PostgreSQL (READ COMMITTED, where the record locks matter)."""
    await sandbox.reset()
    if database is None:
        config = sandbox.load_config(tmp_path)
    else:
        config = sandbox.load_config(tmp_path, await empty_schema(database))
    store = await open_store(config.state_url)
    try:
        yield Crm(sandbox, config, store)
    finally:
        await store.aclose()


async def queue_hint(crm: Crm, connection: str, remote_id: str) -> int:
    """What the webhook receiver queues for a contact's notification from `connection`; the job's id."""
    object_name = crm.sb.objects[cast(VendorName, connection)]["contact"]
    hint = refetch_job("contact", connection, object_name, remote_id, reason="webhook")
    async with crm.store.begin() as tx:
        return await tx.jobs.enqueue(NewJob(hint.key, hint.kind, hint.payload, priority=10))


__all__ = ["crm_on_either", "either_database", "queue_hint"]
