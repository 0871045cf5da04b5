"""`--fix` outcomes: what was made, what is still building, what failed (in the vendor's words, no secret)."""

from __future__ import annotations

import httpx

from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.emulators.dynamics import DynamicsConfig, create_app
from crmsync.engine.schema_findings import Remedy
from crmsync.engine.schema_fix import KEY_BUILDING, apply_fixes
from tests.unit.connectors.dynamics.conftest import ORG_URL, Sleeps, settings_for

REMEDY = Remedy("dynamics", "dv", "contact", "new_crmsyncid", automatic=True)


async def fix_with(config: DynamicsConfig, **settings: object) -> tuple[str | None, str | None, bool]:
    sleeps = Sleeps()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(config)), base_url=ORG_URL) as client:
        connector = DynamicsConnector(
            settings_for(config, **settings), connection="dv", client=client, sleep=sleeps, clock=sleeps.clock
        )
        (outcome,) = await apply_fixes([REMEDY], {"dv": connector}, secrets={"dv": (config.client_secret,)})
    return outcome.note, outcome.error, outcome.created


async def test_a_dataverse_key_still_building_is_made_and_said_to_be_building() -> None:
    note, error, created = await fix_with(DynamicsConfig(key_index_s=3600), external_ids={"contact": "new_crmsyncid"})
    assert (note, error, created) == (KEY_BUILDING, None, True)


async def test_a_dataverse_key_made_and_active_has_no_note() -> None:
    note, error, created = await fix_with(DynamicsConfig(key_index_s=0), external_ids={"contact": "new_crmsyncid"})
    assert (note, error, created) == (None, None, True)


async def test_a_failure_is_the_vendors_words_without_the_connection_prefix() -> None:
    note, error, created = await fix_with(DynamicsConfig(), external_ids={})
    assert (note, created) == (None, False)
    assert error == "no external-id column is configured for contact"
