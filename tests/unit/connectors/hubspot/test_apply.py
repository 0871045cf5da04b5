"""apply(): batch shapes, upsert by external id, per-item classified failures, bisecting, links."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from crmsync.connectors.base import RemoteRecord, WriteOp
from crmsync.connectors.hubspot import HubSpotConnector
from tests.unit.connectors.hubspot.conftest import BASE, MakeConnector, Sleeps, control, settings
from tests.unit.connectors.hubspot.helpers import create

EXT = "crmsync_id"


def contact(ref: str, email: str, **fields: object) -> WriteOp:
    return WriteOp("create", ref, fields={"email": email, **fields}, external_id=(EXT, ref))


@pytest.fixture
async def ready(connector: HubSpotConnector) -> HubSpotConnector:
    for object in ("contacts", "companies", "deals", "tasks"):
        await connector.ensure_external_id_property(object)
    return connector


async def stats(client: httpx.AsyncClient) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = (await control(client, "GET", "stats"))["operations"]
    return found


async def test_creates_upsert_by_external_id_in_full_batches(
    client: httpx.AsyncClient, ready: HubSpotConnector
) -> None:
    ops = [contact(f"c{i}", f"u{i}@example.com", firstname="A") for i in range(250)]
    await control(client, "DELETE", "stats")
    results = await ready.apply("contacts", ops)
    assert all(r.ok and r.created and r.id for r in results) and [r.ref for r in results] == [o.ref for o in ops]
    assert (await stats(client))["contacts.batch.upsert"]["calls"] == 3
    retried = await ready.apply("contacts", ops[:5])  # a retried create updates: no duplicate
    assert [r.id for r in retried] == [r.id for r in results[:5]] and not any(r.created for r in retried)
    assert (await control(client, "GET", ""))["counts"]["contacts"] == 250


async def test_update_delete_and_plain_create(client: httpx.AsyncClient, ready: HubSpotConnector) -> None:
    created = await ready.apply("companies", [WriteOp("create", "a", fields={"name": "Acme", "numberofemployees": 12})])
    company_id = created[0].id
    assert created[0].ok and created[0].created and company_id
    results = await ready.apply(
        "companies",
        [
            WriteOp("update", "a", id=company_id, fields={"name": "Acme 2", "city": None}),
            WriteOp("update", "gone", id="123456789", fields={"name": "x"}),
        ],
    )
    assert results[0].ok and results[0].id == company_id
    assert not results[1].ok and results[1].error is not None and results[1].error.classification == "not_found"
    found = await ready.fetch("companies", [company_id], fields=["name", "numberofemployees"])
    assert isinstance(found[0], RemoteRecord) and found[0].fields["name"] == "Acme 2"
    assert found[0].fields["numberofemployees"] == "12"
    deleted = await ready.apply("companies", [WriteOp("delete", "a", id=company_id)])
    assert deleted[0].ok
    assert (await ready.fetch("companies", [company_id]))[0].__class__.__name__ == "Tombstone"


async def test_bad_items_fail_alone_and_are_classified(client: httpx.AsyncClient, ready: HubSpotConnector) -> None:
    existing = (await create(client, "contacts", 1, email="taken@example.com"))[0]
    ops = [
        contact("ok1", "ok1@example.com"),
        contact("bad-email", "not an email"),
        contact("bad-option", "o@example.com", lifecyclestage="royalty"),
        contact("dup", "taken@example.com"),
        contact("nope", "n@example.com", no_such_property="x"),
        contact("ok2", "ok2@example.com"),
        WriteOp("upsert", "nokey"),
    ]
    results = {r.ref: r for r in await ready.apply("contacts", ops)}
    assert results["ok1"].ok and results["ok2"].ok
    errors = {ref: r.error for ref, r in results.items() if r.error is not None}
    assert errors["bad-email"] is not None and errors["bad-email"].code == "INVALID_EMAIL"
    assert errors["bad-email"].classification == "invalid" and errors["bad-email"].fields == ("email",)
    assert errors["bad-option"].code == "INVALID_OPTION" and errors["bad-option"].fields == ("lifecyclestage",)
    assert errors["dup"].classification == "duplicate" and errors["dup"].existing_id == existing
    assert errors["nope"].fields == ("no_such_property",)
    assert errors["nokey"].code == "NO_KEY" and not errors["nokey"].retryable


async def test_same_record_twice_in_one_call_keeps_order(ready: HubSpotConnector) -> None:
    ops = [contact("same", "s@example.com", firstname="first"), contact("same", "s@example.com", firstname="second")]
    results = await ready.apply("contacts", ops)
    assert results[0].ok and results[1].ok and results[0].id == results[1].id
    found = await ready.fetch("contacts", [str(results[0].id)], fields=["firstname"])
    assert isinstance(found[0], RemoteRecord) and found[0].fields["firstname"] == "second"


class RefusesPoisonedBatches(httpx.AsyncBaseTransport):
    """HubSpot refuses some calls as a whole for one input (e.g. untraced inputs, unparseable values):
    forward to the emulator, but answer HubSpot's whole-call 400 when a batch holds a poisoned input."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if request.url.path.endswith("/batch/upsert") and b"poison" in body:
            self.refused += 1
            envelope = {"status": "error", "message": "Invalid input JSON", "category": "VALIDATION_ERROR"}
            return httpx.Response(400, content=orjson.dumps(envelope), headers={"content-type": "application/json"})
        return await self.inner.handle_async_request(request)


async def test_a_batch_refused_as_a_whole_is_bisected(app: Starlette, sleeps: Sleeps) -> None:
    transport = RefusesPoisonedBatches(app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        connector = HubSpotConnector(settings(), connection="hs-test", client=client, sleep=sleeps)
        await connector.ensure_external_id_property("contacts")
        ops = [contact(f"c{i}", f"b{i}@example.com") for i in range(16)]
        ops[5] = contact("c5", "b5@example.com", firstname="poison")
        results = await connector.apply("contacts", ops)
    assert [r.ref for r in results if not r.ok] == ["c5"]
    assert results[5].error is not None and results[5].error.classification == "invalid"
    assert transport.refused == 5  # 16 → 8 → 4 → 2 → 1: log2 of the batch, not one call per item


class LocksUpdates(httpx.AsyncBaseTransport):
    """HubSpot answers a batch update with a 207 whose every input failed retryably (a LOCKED item error)."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/batch/update"):
            return await self.inner.handle_async_request(request)
        inputs = orjson.loads(await request.aread())["inputs"]
        errors = [
            {
                "status": "error",
                "category": "LOCKED",
                "message": f"The record {item['id']} is being modified by another request",
                "context": {"objectWriteTraceId": [item["objectWriteTraceId"]]},
            }
            for item in inputs
        ]
        body = {"status": "COMPLETE", "results": [], "numErrors": len(errors), "errors": errors}
        return httpx.Response(207, content=orjson.dumps(body), headers={"content-type": "application/json"})


async def test_a_207_item_error_is_the_records_and_a_failed_call_the_calls(
    app: Starlette, client: httpx.AsyncClient, ready: HubSpotConnector, sleeps: Sleeps
) -> None:
    """The engine tells a CRM that is down from records it could not write by this scope: both are retryable."""
    [made] = await ready.apply("contacts", [contact("s", "s@example.com")])
    assert made.ok and made.id
    update = WriteOp("update", "s", id=made.id, fields={"firstname": "Scoped"})
    async with httpx.AsyncClient(transport=LocksUpdates(app), base_url=BASE) as locking:
        locked_out = HubSpotConnector(settings(), connection="hs-test", client=locking, sleep=sleeps)
        [locked] = await locked_out.apply("contacts", [update])
    assert locked.error is not None and not locked.ok
    assert (locked.error.classification, locked.error.code, locked.error.scope) == ("retryable", "LOCKED", "record")
    plan = {"rules": [{"kind": "status", "status": 503, "path": "batch/update"}]}
    await control(client, "PUT", "faults", plan)
    [down] = await ready.apply("contacts", [update])
    assert down.error is not None and (down.error.classification, down.error.scope) == ("retryable", "call")
    await control(client, "PUT", "faults", {"rules": []})
    [landed] = await ready.apply("contacts", [update])
    assert landed.ok


async def test_links_on_create_upsert_update_and_clear(client: httpx.AsyncClient, ready: HubSpotConnector) -> None:
    companies = await create(client, "companies", 2, name="Co {i}")
    people = await create(client, "contacts", 1, email="linked@example.com")
    deal = await ready.apply(
        "deals",
        [WriteOp("create", "d1", fields={"dealname": "D"}, links={"company": companies[0], "contact": people[0]})],
    )
    deal_id = str(deal[0].id)
    assert deal[0].ok

    async def links() -> dict[str, tuple[str, ...]]:
        found = await ready.fetch("deals", [deal_id], fields=["dealname"])
        assert isinstance(found[0], RemoteRecord)
        return dict(found[0].links)

    assert await links() == {"company": (companies[0],), "contact": (people[0],)}
    moved = await ready.apply("deals", [WriteOp("update", "d1", id=deal_id, links={"company": companies[1]})])
    assert moved[0].ok
    assert await links() == {"company": (companies[1],), "contact": (people[0],)}
    cleared = await ready.apply("deals", [WriteOp("update", "d1", id=deal_id, links={"contact": None})])
    assert cleared[0].ok
    assert await links() == {"company": (companies[1],), "contact": ()}
    task = await ready.apply(
        "tasks",
        [WriteOp("upsert", "t1", fields={"hs_task_subject": "Call"}, external_id=(EXT, "t1"), links={"deal": deal_id})],
    )
    assert task[0].ok and task[0].created
    found = await ready.fetch("tasks", [str(task[0].id)])
    assert isinstance(found[0], RemoteRecord) and found[0].links["deal"] == (deal_id,)


async def test_link_failures_and_unknown_roles_are_per_item(client: httpx.AsyncClient, ready: HubSpotConnector) -> None:
    results = await ready.apply(
        "contacts",
        [
            contact("l1", "l1@example.com"),
            WriteOp(
                "upsert", "l2", fields={"email": "l2@example.com"}, external_id=(EXT, "l2"), links={"company": "9"}
            ),
            WriteOp("upsert", "l3", external_id=(EXT, "l3"), links={"deal": "1"}),
        ],
    )
    assert results[0].ok
    assert not results[1].ok and results[1].id and results[1].error is not None
    assert results[1].error.code == "ASSOCIATION_TARGET_NOT_FOUND"
    assert results[2].error is not None and results[2].error.code == "UNKNOWN_LINK_ROLE"


async def test_injected_partial_failures_fail_only_their_items(
    client: httpx.AsyncClient, ready: HubSpotConnector
) -> None:
    plan = {"rules": [{"kind": "partial_batch", "path": "batch/upsert", "fail_share": 0.25, "times": 1}]}
    await control(client, "PUT", "faults", plan)
    results = await ready.apply("contacts", [contact(f"p{i}", f"p{i}@example.com") for i in range(8)])
    assert sum(r.ok for r in results) == 6
    assert all(r.error is not None for r in results if not r.ok)


async def test_5xx_bursts_are_retried_with_backoff(
    client: httpx.AsyncClient, ready: HubSpotConnector, sleeps: Sleeps
) -> None:
    plan = {"rules": [{"kind": "status", "status": 503, "path": "batch/upsert", "times": 2}]}
    await control(client, "PUT", "faults", plan)
    results = await ready.apply("contacts", [contact(f"r{i}", f"r{i}@example.com") for i in range(3)])
    assert all(r.ok for r in results) and len(sleeps.waits) == 2


class LosesCreateResponses(httpx.AsyncBaseTransport):
    """The create reaches HubSpot, then the connection drops before the answer arrives."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/batch/create"):
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        return response


async def test_a_plain_create_whose_answer_was_lost_is_not_resent(app: Starlette, sleeps: Sleeps) -> None:
    async with httpx.AsyncClient(transport=LosesCreateResponses(app), base_url=BASE) as client:
        connector = HubSpotConnector(settings(), connection="hs-test", client=client, sleep=sleeps)
        results = await connector.apply("companies", [WriteOp("create", "x", fields={"name": "Maybe"})])
        assert results[0].error is not None and results[0].error.code == "UNKNOWN_OUTCOME"
        assert (await control(client, "GET", ""))["counts"]["companies"] == 1  # created once, never twice


async def test_values_are_sent_as_hubspot_strings(client: httpx.AsyncClient, make: MakeConnector) -> None:
    connector = make()
    await connector.ensure_external_id_property("deals")

    op = WriteOp(
        "create",
        "v",
        fields={"dealname": "V", "amount": 12.5, "closedate": datetime(2030, 1, 2, tzinfo=UTC)},
        external_id=(EXT, "v"),
    )
    result = (await connector.apply("deals", [op]))[0]
    found = await connector.fetch("deals", [str(result.id)], fields=["amount", "closedate"])
    assert isinstance(found[0], RemoteRecord)
    assert found[0].fields["amount"] == "12.5" and found[0].fields["closedate"].startswith("2030-01-02T00:00:00")
