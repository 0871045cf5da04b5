"""`check --fix` on Dataverse: the external-id column and its alternate key made through the Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crmsync.connectors.base import WriteOp
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.dynamics.customise import KEY_WAIT_S
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app
from crmsync.emulators.dynamics.testkit import API, authorised_client
from crmsync.errors import ConfigError

from .conftest import ORG_URL, Sleeps, settings_for


async def wired(config: DynamicsConfig, sleeps: Sleeps) -> AsyncIterator[tuple[DynamicsConnector, httpx.AsyncClient]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(config)), base_url=ORG_URL) as client:
        settings = settings_for(config, external_ids={"contact": "new_crmsyncid"})
        yield DynamicsConnector(settings, connection="dv-test", client=client, sleep=sleeps, clock=sleeps.clock), client


@pytest.fixture
async def fresh(sleeps: Sleeps) -> AsyncIterator[tuple[DynamicsConnector, httpx.AsyncClient]]:
    """An environment where nobody made the column yet; key indexes build at once."""
    async for pair in wired(DynamicsConfig(key_index_s=0), sleeps):
        yield pair


async def test_fix_makes_the_column_and_an_active_key_then_upserts_address_rows(
    fresh: tuple[DynamicsConnector, httpx.AsyncClient], sleeps: Sleeps
) -> None:
    connector, _ = fresh
    before = await connector.describe("contact")
    assert "new_crmsyncid" not in before.fields
    outcome = await connector.ensure_external_id_key("contact")
    assert (outcome.column_created, outcome.key_created, outcome.active) == (True, True, True)
    assert sleeps.calls == []  # Active at the first look
    # Described again, not from the cache: the column is there and is an upsert key now.
    after = (await connector.describe("contact")).fields["new_crmsyncid"]
    assert after.unique and after.external_id and after.custom
    op = WriteOp("create", "c-1", fields={"lastname": "Hopper"}, external_id=("new_crmsyncid", "c-1"))
    (result,) = await connector.apply("contact", [op])
    assert result.ok, result
    again = await connector.ensure_external_id_key("contact")
    assert (again.created, again.active) == (False, True)


async def test_a_key_still_building_is_reported_not_waited_for_forever(sleeps: Sleeps) -> None:
    async for connector, _ in wired(DynamicsConfig(key_index_s=3600), sleeps):
        outcome = await connector.ensure_external_id_key("contact")
        assert (outcome.created, outcome.active) == (True, False)
        assert sum(sleeps.calls) == KEY_WAIT_S
        # A key that is not Active is no upsert key yet.
        assert not (await connector.describe("contact")).fields["new_crmsyncid"].unique


async def test_a_key_over_shared_values_fails_with_what_to_do(sleeps: Sleeps) -> None:
    column = CustomColumn(name="new_crmsyncid", max_length=100)  # made by hand, without a key
    config = DynamicsConfig(key_index_s=0, custom_columns={"contact": [column]})
    app = create_app(config)
    async with authorised_client(app, config) as admin:
        for name in ("Hopper", "Lovelace"):
            made = await admin.post(f"{API}/contacts", json={"lastname": name, "new_crmsyncid": "same"})
            assert made.status_code == 204, made.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORG_URL) as client:
        settings = settings_for(config, external_ids={"contact": "new_crmsyncid"})
        connector = DynamicsConnector(settings, connection="dv-test", client=client, sleep=sleeps, clock=sleeps.clock)
        with pytest.raises(ConfigError, match=r"failed to build .* rows already share a value"):
            await connector.ensure_external_id_key("contact")


async def test_an_existing_column_of_another_type_is_refused(sleeps: Sleeps) -> None:
    column = CustomColumn(name="new_crmsyncid", type="Integer")
    async for connector, _ in wired(DynamicsConfig(custom_columns={"contact": [column]}), sleeps):
        with pytest.raises(ConfigError, match=r"exists as Integer, not text"):
            await connector.ensure_external_id_key("contact")


async def test_a_table_without_a_configured_column_is_a_config_error(
    fresh: tuple[DynamicsConnector, httpx.AsyncClient],
) -> None:
    connector, _ = fresh
    with pytest.raises(ConfigError, match="no external-id column is configured for account"):
        await connector.ensure_external_id_key("account")
