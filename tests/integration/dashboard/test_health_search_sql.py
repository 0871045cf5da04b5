"""The overview's and the search's SQL on both backends: SQLite, and PostgreSQL when it answers (CI: mandatory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crmsync.config import SyncConfig, parse_config
from crmsync.engine.health import kind_health, sync_volume, totals
from crmsync.engine.search import search_records
from crmsync.store import AuditEntry, Store, open_store
from crmsync.store.tables import audit, jobs, links, records, sync_errors
from tests.integration.store.conftest import empty_schema, postgres_url  # noqa: F401 - the session's throwaway database

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONFIG = (
    "connections:\n"
    "  hubspot: {vendor: hubspot, access_token: {env: T}}\n"
    "  salesforce: {vendor: salesforce, auth_flow: client_credentials, client_id: x, client_secret: {env: T}}\n"
    "objects:\n  contact: {}\n"
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Synchronous: the PostgreSQL fixture creates its database with asyncio.run, outside the test's loop.
    return (
        f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )


@pytest.fixture
async def store(state_url: str) -> AsyncIterator[Store]:
    url = await empty_schema(state_url) if state_url.startswith("postgresql") else state_url
    opened = await open_store(url)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def config() -> SyncConfig:
    return parse_config(CONFIG, environ={"T": "token"})


async def _seed(store: Store) -> None:
    """Ada linked in both CRMs with a write pending to HubSpot; Grace only in HubSpot, refused by Salesforce."""
    people = {
        "c-ada": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "c-grace": {"email": "grace@example.com", "first_name": "Grace", "last_name": "100% Hopper_x"},
    }
    async with store.begin() as tx:
        db = tx.connection
        for canonical_id, fields in people.items():
            await db.execute(
                records.insert().values(
                    canonical_id=canonical_id, kind="contact", fields=fields, provenance={}, links={},
                    deleted=False, version=1, updated_at=NOW,
                )
            )  # fmt: skip
        for connection, obj, remote_id, canonical_id in (
            ("hubspot", "contacts", "101", "c-ada"),
            ("salesforce", "Contact", "003A", "c-ada"),
            ("hubspot", "contacts", "102", "c-grace"),
        ):
            await db.execute(
                links.insert().values(
                    connection=connection, object=obj, remote_id=remote_id, canonical_id=canonical_id,
                    kind="contact", created_at=NOW,
                )
            )  # fmt: skip
        # Two changes made at once share a row (schema 7); a row written before schema 7 holds one.
        await tx.audit.append(
            [AuditEntry("c-ada", field, None, "x", "hubspot", "change", NOW - timedelta(minutes=30))
             for field in ("email", "last_name")]
        )  # fmt: skip
        await db.execute(
            audit.insert().values(
                canonical_id="c-ada", field="title", old=None, new="x", connection="hubspot", reason="change",
                at=NOW - timedelta(minutes=5),
            )
        )  # fmt: skip
        await db.execute(
            sync_errors.insert().values(
                connection="salesforce", object="Contact", operation="create", canonical_id="c-grace",
                message="Required fields are missing: [LastName]", count=1, first_seen=NOW, last_seen=NOW,
            )
        )  # fmt: skip
        await db.execute(
            jobs.insert().values(
                key="hubspot/c-ada", kind="write:contact:hubspot", payload={}, status="pending",
                run_after=NOW, created_at=NOW - timedelta(seconds=90),
            )
        )  # fmt: skip


async def test_health_counts_per_connection_and_kind(store: Store, config: SyncConfig) -> None:
    await _seed(store)
    health = {(h.connection, h.kind): h for h in await kind_health(store, config, now=NOW)}
    hubspot, salesforce = health[("hubspot", "contact")], health[("salesforce", "contact")]
    assert (hubspot.linked, hubspot.in_sync, hubspot.pending, hubspot.failing) == (2, 1, 1, 0)
    assert hubspot.lag_s == pytest.approx(90.0)
    assert (salesforce.linked, salesforce.in_sync, salesforce.pending, salesforce.failing) == (1, 1, 0, 1)
    assert salesforce.excluded == 0  # Grace is failing there, not held out
    assert totals(tuple(health.values())) == {"in_sync": 2, "pending": 1, "failing": 1, "excluded": 0}


async def test_volume_buckets_changes_and_errors(store: Store) -> None:
    await _seed(store)
    buckets = await sync_volume(store, hours=1, buckets=4, now=NOW)
    assert [(b.changes, b.records, b.errors) for b in buckets] == [(0, 0, 0), (0, 0, 0), (2, 1, 0), (1, 1, 1)]
    assert buckets[0].start == NOW - timedelta(hours=1)


async def test_search_by_email_name_and_ids(store: Store) -> None:
    await _seed(store)

    async def found(query: str) -> list[tuple[str, str]]:
        return [(hit.canonical_id, hit.matched_on) for hit in await search_records(store, query)]

    assert await found("ADA@example") == [("c-ada", "email")]
    assert await found("lovelace") == [("c-ada", "name")]
    assert await found("ada lovelace") == [("c-ada", "name")]
    assert await found("003A") == [("c-ada", "id")]
    assert await found("c-grace") == [("c-grace", "id")]
    assert await found("100%") == [("c-grace", "name")]  # LIKE's wildcards are matched literally
    assert await found("hopper_x") == [("c-grace", "name")]
    assert await found("%%") == []
    assert await found("a_a") == []  # "_" would match "ada" as a LIKE wildcard
    assert await found("   ") == []
    (hit,) = await search_records(store, "ada")
    assert hit.label == "Ada Lovelace" and [link.connection for link in hit.links] == ["hubspot", "salesforce"]
    async with store.read() as tx:  # the search wrote nothing
        assert (await tx.connection.execute(sa.select(sa.func.count()).select_from(records))).scalar_one() == 2
