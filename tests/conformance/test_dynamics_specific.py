"""Dataverse-specific conformance cases: expired delta tokens, Win/LoseOpportunity, one regarding, merge webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.base import RemoteRecord, WriteOp
from crmsync.connectors.dynamics import TABLES, DynamicsConnector, DynamicsSettings, DynamicsWebhookDecoder
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app

BASE = "https://dv.conformance"
EXT = "new_crmsyncid"
Env = tuple[DynamicsConnector, httpx.AsyncClient, Starlette]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    column = CustomColumn(name=EXT, max_length=100, alternate_key=True)
    config = DynamicsConfig(custom_columns={table: [column] for table in TABLES})
    app = create_app(config)
    settings = DynamicsSettings(
        org_url=BASE,
        authority=BASE,
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=SecretStr(config.client_secret),
        external_ids=dict.fromkeys(TABLES, EXT),
        page_size=10,
    )
    now = [0.0]

    async def no_sleep(seconds: float) -> None:
        now[0] += seconds

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        connector = DynamicsConnector(
            settings, connection="dv-conf", client=client, sleep=no_sleep, clock=lambda: now[0]
        )
        yield connector, client, app


def create(ref: str, links: dict[str, str | None] | None = None, **fields: Any) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXT, ref), links=links or {})


async def test_an_expired_delta_token_loses_no_update_and_tracking_resumes(env: Env) -> None:
    connector, client, _ = env
    results = await connector.apply("contact", [create(f"c{i}", lastname=f"L{i}") for i in range(25)])
    ids = [r.id for r in results]
    cursor = [p async for p in connector.changes("contact", None)][-1].cursor
    await client.post("/_emulator/clock", json={"advance_ms": 8 * 86_400_000})
    await connector.apply("contact", [WriteOp("update", "c3", id=ids[3], fields={"jobtitle": "After expiry"})])
    pages = [p async for p in connector.changes("contact", cursor)]
    edited = [r for p in pages for r in p.upserts if r.id == ids[3]]
    assert edited and edited[-1].fields["jobtitle"] == "After expiry"
    assert orjson.loads(pages[-1].cursor)["mode"] == "delta"
    await connector.apply("contact", [WriteOp("delete", "c4", id=ids[4])])
    after = [p async for p in connector.changes("contact", pages[-1].cursor)]
    assert [t.id for p in after for t in p.tombstones] == [ids[4]]


async def test_deal_stages_close_through_the_vendor_actions(env: Env) -> None:
    connector, _, _ = env
    schema = await connector.describe("opportunity")
    won_stage = next(key for key, (_, closed, won) in schema.stages.items() if closed and won)
    state, status = (int(part) for part in won_stage.split(":"))
    [deal] = await connector.apply("opportunity", [create("deal", name="Big deal", statecode=state, statuscode=status)])
    assert deal.ok and deal.id
    [row] = await connector.fetch("opportunity", [deal.id])
    assert isinstance(row, RemoteRecord)
    assert (row.fields["statecode"], row.fields["statuscode"]) == (state, status)
    assert row.fields["closeprobability"] == 100  # WinOpportunity ran, not a PATCH of statecode


async def test_an_activity_has_one_regarding_parent(env: Env) -> None:
    connector, _, _ = env
    [company] = await connector.apply("account", [create("co", name="Co")])
    [contact] = await connector.apply("contact", [create("ct", {"company": company.id}, lastname="Ct")])
    [deal] = await connector.apply("opportunity", [create("dl", {"company": company.id}, name="Dl")])
    assert company.id and contact.id and deal.id
    links: dict[str, str | None] = {"company": company.id, "contact": contact.id, "deal": deal.id}
    [task] = await connector.apply("task", [create("tk", links, subject="Follow up")])
    assert task.ok and task.id
    [row] = await connector.fetch("task", [task.id])
    assert isinstance(row, RemoteRecord) and row.links == {"deal": (deal.id,)}


async def test_merges_reach_the_webhook_decoder_as_re_points(env: Env) -> None:
    connector, client, app = env
    survivor, absorbed = await connector.apply("account", [create("s", name="S"), create("a", name="A")])
    assert survivor.id and absorbed.id
    registration = {"url": "https://hooks.example/dv", "auth": "WebhookKey", "key": "k3y", "table": "account"}
    await client.post("/_emulator/webhooks", json=registration)
    await client.post("/_emulator/merge", json={"table": "account", "target": survivor.id, "subordinate": absorbed.id})
    decoder = DynamicsWebhookDecoder(SecretStr("k3y"))
    hints = []
    for delivery in app.state.vendor.runtime.webhooks.deliveries:
        body, headers = delivery.render(1)
        decoder.verify("POST", delivery.url, headers, body)
        hints.extend(decoder.decode(body))
    assert ("merged", absorbed.id, survivor.id) in [(h.kind, h.id, h.merged_into) for h in hints]
