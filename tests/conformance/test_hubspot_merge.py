"""HubSpot `WriteOp("merge")` on the emulator: the merge endpoint, the new id as the result, a resend, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from pydantic import SecretStr

from crmsync.connectors.base import RemoteRecord, Tombstone, WriteOp, can_merge
from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.emulators.hubspot import HubSpotConfig, create_app

BASE = "http://hubspot.merge"


async def no_sleep(seconds: float) -> None:
    del seconds


@pytest.fixture
async def hs() -> AsyncIterator[tuple[HubSpotConnector, list[httpx.Request]]]:
    """A connector on the emulator, and every merge request it sent."""
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/merge"):
            sent.append(request)

    app = create_app(HubSpotConfig())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, event_hooks={"request": [record]}) as client:
        settings = HubSpotSettings(base_url=BASE, access_token=SecretStr(HubSpotConfig().private_app_token))
        yield HubSpotConnector(settings, connection="hs-merge", client=client, sleep=no_sleep), sent


def create(ref: str, **fields: str) -> WriteOp:
    return WriteOp("create", ref, fields=fields)


async def test_merge_answers_the_new_id_and_both_old_ids_re_point_to_it(
    hs: tuple[HubSpotConnector, list[httpx.Request]],
) -> None:
    connector, sent = hs
    primary, other = await connector.apply(
        "contacts", [create("p", lastname="Kept", email="kept@example.com"), create("o", lastname="Gone")]
    )
    assert primary.id and other.id
    [merged] = await connector.apply("contacts", [WriteOp("merge", "m", id=other.id, into=primary.id)])
    assert merged.ok and merged.ref == "m" and merged.id not in (None, primary.id, other.id)
    assert [orjson.loads(r.content) for r in sent] == [{"primaryObjectId": primary.id, "objectIdToMerge": other.id}]
    assert merged.id is not None
    found = await connector.fetch("contacts", [merged.id, primary.id, other.id], fields=["lastname"])
    survivor, *olds = found
    assert isinstance(survivor, RemoteRecord) and survivor.fields["lastname"] == "Kept"
    assert set(survivor.merged_ids) >= {primary.id, other.id}
    assert [(t.merged_into if isinstance(t, Tombstone) else t) for t in olds] == [merged.id, merged.id]
    # Resent (its first answer lost): both ids already stand for one record, so it is done, with that id.
    [again] = await connector.apply("contacts", [WriteOp("merge", "m", id=other.id, into=primary.id)])
    assert (again.ok, again.id, again.error) == (True, merged.id, None)


async def test_each_merge_gets_its_own_result_with_the_vendors_error(
    hs: tuple[HubSpotConnector, list[httpx.Request]],
) -> None:
    connector, sent = hs
    one, two, three = await connector.apply("contacts", [create(n, lastname=n) for n in ("a", "b", "c")])
    assert one.id and two.id and three.id
    ops = [
        WriteOp("update", "edit", id=three.id, fields={"jobtitle": "Chief"}),
        WriteOp("merge", "unknown", id="987654321", into=one.id),
        WriteOp("merge", "fine", id=two.id, into=one.id),
        WriteOp("merge", "itself", id=three.id, into=three.id),
    ]
    edit, unknown, fine, itself = await connector.apply("contacts", ops)
    assert [r.ref for r in (edit, unknown, fine, itself)] == [op.ref for op in ops]
    assert edit.ok and fine.ok and fine.id not in (one.id, two.id)
    assert unknown.error is not None and unknown.error.classification == "not_found"
    assert "987654321" in unknown.error.message  # HubSpot's words name the missing record
    assert itself.error is not None and (itself.error.classification, itself.error.code) == ("invalid", "MERGE_ITSELF")
    assert len(sent) == 2  # the merge of a record into itself was refused before sending


async def test_contacts_companies_and_deals_merge_activities_do_not(
    hs: tuple[HubSpotConnector, list[httpx.Request]],
) -> None:
    connector, sent = hs
    assert [o for o in connector.objects if can_merge(connector, o)] == ["contacts", "companies", "deals"]
    [refused] = await connector.apply("tasks", [WriteOp("merge", "t", id="1", into="2")])
    assert refused.error is not None and refused.error.code == "MERGE_UNSUPPORTED" and sent == []
