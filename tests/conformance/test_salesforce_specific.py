"""Salesforce-specific conformance cases: merges via MasterRecordId and through the SOAP API's merge(), contact
roles, the daily-usage header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import RemoteRecord, Tombstone, WriteOp
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app

BASE = "https://sf.conformance"
EXT = "Crmsync_Id__c"


@pytest.fixture
async def env() -> AsyncIterator[tuple[SalesforceConnector, httpx.AsyncClient]]:
    fields = [CustomField(name=EXT, external_id=True, unique=True, length=64)]
    app = create_app(SalesforceConfig(custom_fields={"Account": fields, "Contact": fields, "Opportunity": fields}))
    creds = app.state.vendor.credentials()
    settings = SalesforceSettings(
        login_url=BASE,
        client_id=creds["consumer_key"],
        username=creds["username"],
        private_key_pem=SecretStr(creds["jwt_private_key_pem"]),
    )

    async def no_sleep(seconds: float) -> None:
        return None

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield SalesforceConnector(settings, connection="sf-conf", client=client, sleep=no_sleep), client


def create(ref: str, **fields: object) -> WriteOp:
    return WriteOp("create", ref, fields=fields, external_id=(EXT, ref))


async def test_merge_victim_re_points_in_changes_and_fetch(env: tuple[SalesforceConnector, httpx.AsyncClient]) -> None:
    connector, client = env
    master, victim = await connector.apply("Account", [create("m", Name="Master"), create("v", Name="Victim")])
    assert master.id and victim.id
    cursor = [p async for p in connector.changes("Account", None)][-1].cursor
    await client.post("/_emulator/clock", json={"advance_ms": 1000})
    merge = {"object": "Account", "master_id": master.id, "victim_ids": [victim.id]}
    assert (await client.post("/_emulator/merge", json=merge)).status_code == 200
    pages = [p async for p in connector.changes("Account", cursor)]
    assert [(t.id, t.merged_into) for p in pages for t in p.tombstones] == [(victim.id, master.id)]
    fetched = await connector.fetch("Account", [victim.id])
    assert fetched == [Tombstone("Account", victim.id, fetched[0].deleted_at, master.id)]  # type: ignore[union-attr]


async def test_deal_contact_links_are_contact_roles(env: tuple[SalesforceConnector, httpx.AsyncClient]) -> None:
    connector, _ = env
    [contact] = await connector.apply("Contact", [create("c", LastName="Buyer")])
    assert contact.id
    deal = WriteOp(
        "create",
        "d",
        fields={"Name": "Deal", "StageName": "Qualification", "CloseDate": "2026-12-31"},
        external_id=(EXT, "d"),
        links={"contact": contact.id},
    )
    [written] = await connector.apply("Opportunity", [deal])
    [again] = await connector.apply("Opportunity", [deal])  # a retried create: no second deal, no second role
    assert written.id == again.id and not again.created
    [record] = await connector.fetch("Opportunity", [str(written.id)])
    assert isinstance(record, RemoteRecord) and record.links["contact"] == (contact.id,)


async def test_daily_usage_header_feeds_the_limiter(env: tuple[SalesforceConnector, httpx.AsyncClient]) -> None:
    connector, _ = env
    await connector.describe("Account")
    state = connector.limiter.state()
    assert state["daily_used"] == 1 and state["daily_limit"] == 100_000


async def test_a_merge_is_salesforces_soap_merge_and_keeps_the_victims_children(
    env: tuple[SalesforceConnector, httpx.AsyncClient],
) -> None:
    """Over the partner SOAP API (REST has no merge): the victim's task moves to the master instead of going
    with it, the result names the master, and a merge resent after its answer was lost is done."""
    connector, client = env
    master, victim = await connector.apply("Contact", [create("m", LastName="Kept"), create("v", LastName="Gone")])
    assert master.id and victim.id and connector.merges("Contact") and connector.merges("Account")
    assert not connector.merges("Opportunity")
    [task] = await connector.apply(
        "Task", [WriteOp("create", "t", fields={"Subject": "Call"}, links={"contact": victim.id})]
    )
    assert task.id
    await client.delete("/_emulator/stats")

    op = WriteOp("merge", "x", id=victim.id, into=master.id)
    [merged] = await connector.apply("Contact", [op])

    assert merged.ok and merged.id == master.id
    calls = (await client.get("/_emulator/stats")).json()["operations"]
    assert calls["soap.merge"]["calls"] == 1
    [gone] = await connector.fetch("Contact", [victim.id])
    assert isinstance(gone, Tombstone) and gone.merged_into == master.id
    [moved] = await connector.fetch("Task", [task.id])
    assert isinstance(moved, RemoteRecord) and moved.links["contact"] == (master.id,)
    # Resent: Salesforce answers ENTITY_IS_DELETED, and the victim's MasterRecordId says it was done.
    [again] = await connector.apply("Contact", [op])
    assert again.ok and again.id == master.id


async def test_merge_refusals_are_per_request_and_an_expired_session_is_renewed(
    env: tuple[SalesforceConnector, httpx.AsyncClient],
) -> None:
    connector, client = env
    a, b, c = await connector.apply("Account", [create(n, Name=n) for n in ("a", "b", "c")])
    assert a.id and b.id and c.id
    await client.delete("/_emulator/stats")
    assert (await client.put("/_emulator/faults", json={"rules": [{"kind": "expire_token", "times": 1}]})).is_success
    results = await connector.apply(
        "Account",
        [
            WriteOp("merge", "self", id=a.id, into=a.id),
            WriteOp("merge", "missing", id="001000000000000AAA", into=a.id),
            WriteOp("merge", "ok", id=b.id, into=c.id),
        ],
    )
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error is not None and results[0].error.code == "MERGE_ITSELF"  # never sent
    assert results[1].error is not None and results[1].error.classification in ("invalid", "not_found")
    assert "001000000000000AAA" in results[1].error.message
    assert results[2].id == c.id
    # One call was refused for the expired session (a SOAP fault), the next, with a new session, answered.
    soap = (await client.get("/_emulator/stats")).json()["operations"]["soap.merge"]
    assert soap["calls"] == 2 and soap["statuses"] == {"500": 1, "200": 1}


async def test_a_connection_that_does_not_merge_refuses_merges_alone(
    env: tuple[SalesforceConnector, httpx.AsyncClient],
) -> None:
    connector, _ = env
    kept, gone = await connector.apply("Contact", [create("k", LastName="Kept"), create("g", LastName="Gone")])
    assert kept.id and gone.id
    connector.settings = connector.settings.model_copy(update={"merges": False})
    assert not connector.merges("Contact")
    merged, edited = await connector.apply(
        "Contact",
        [WriteOp("merge", "m", id=gone.id, into=kept.id), WriteOp("update", "u", id=kept.id, fields={"Title": "Dr"})],
    )
    assert not merged.ok and merged.error is not None and merged.error.code == "MERGE_DISABLED"
    assert merged.error.classification == "invalid" and edited.ok
    assert isinstance((await connector.fetch("Contact", [gone.id]))[0], RemoteRecord)
