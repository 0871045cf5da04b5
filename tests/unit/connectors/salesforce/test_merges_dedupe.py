"""merged_ids for merge survivors (changes and fetch), one delivery per record per page and across the deal
and contact-role streams, and unreadable write answers (re-sent only when idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from starlette.applications import Starlette

from crmsync.connectors.base import ChangePage, Cursor, RemoteRecord, Tombstone, WriteOp
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.connectors.salesforce.cursor import SalesforceCursor, StreamState

from .conftest import BASE, Admin, Sleeps

EXT = "Crmsync_Id__c"


async def read_all(connector: SalesforceConnector, obj: str, cursor: Cursor | None) -> list[ChangePage]:
    pages = [page async for page in connector.changes(obj, cursor)]
    assert pages and not pages[-1].more
    return pages


async def merge(admin: Admin, obj: str, master: str, victim: str) -> None:
    await admin.control("merge", {"object": obj, "master_id": master, "victim_ids": [victim]})


async def test_fetch_lists_merged_ids_with_one_extra_call(connector: SalesforceConnector, admin: Admin) -> None:
    master = await admin.create("Account", {"Name": "Master"})
    victim = await admin.create("Account", {"Name": "Victim"})
    other = await admin.create("Account", {"Name": "Other"})
    gone = await admin.create("Account", {"Name": "Gone"})
    await admin.delete("Account", gone)
    await merge(admin, "Account", master, victim)
    await connector.describe("Account")
    before = connector.http.calls
    result = await connector.fetch("Account", [master, other, victim, gone])
    assert connector.http.calls - before == 2  # the retrieve, then one queryAll for merged_ids and tombstones
    assert isinstance(result[0], RemoteRecord) and result[0].merged_ids == (victim,)
    assert isinstance(result[1], RemoteRecord) and result[1].merged_ids == ()
    assert isinstance(result[2], Tombstone) and result[2].merged_into == master
    assert isinstance(result[3], Tombstone) and result[3].merged_into is None and result[3].deleted_at is not None


async def test_fetch_of_objects_that_cannot_merge_makes_no_extra_call(
    connector: SalesforceConnector, admin: Admin
) -> None:
    task = await admin.create("Task", {"Subject": "Call"})
    await connector.describe("Task")
    before = connector.http.calls
    [found] = await connector.fetch("Task", [task])
    assert isinstance(found, RemoteRecord) and found.merged_ids == ()
    assert connector.http.calls - before == 1


async def test_changes_fill_merged_ids_from_the_stream_without_extra_calls(
    connector: SalesforceConnector, admin: Admin
) -> None:
    ids = [await admin.create("Contact", {"LastName": f"C{i}"}) for i in range(4)]
    cursor = (await read_all(connector, "Contact", None))[-1].cursor
    await admin.control("clock", {"advance_ms": 1000})
    await merge(admin, "Contact", ids[0], ids[1])
    await merge(admin, "Contact", ids[0], ids[2])
    before = connector.http.calls
    pages = await read_all(connector, "Contact", cursor)
    assert connector.http.calls - before == 1  # the change page itself
    [survivor] = [r for p in pages for r in p.upserts]
    assert survivor.id == ids[0] and sorted(survivor.merged_ids) == sorted(ids[1:3])
    assert sorted((t.id, t.merged_into) for p in pages for t in p.tombstones) == [(ids[1], ids[0]), (ids[2], ids[0])]


async def test_survivor_passed_before_its_victims_is_delivered_again_with_merged_ids(
    settings: SalesforceSettings, client: httpx.AsyncClient, admin: Admin
) -> None:
    """A page boundary between a survivor and its victims (same stamp, survivor's id first)."""
    connector = SalesforceConnector(
        settings.model_copy(update={"query_batch_size": 200}), connection="sf-test", client=client
    )
    accounts = sorted([await admin.create("Account", {"Name": f"A{i}"}) for i in range(201)])
    cursor = (await read_all(connector, "Account", None))[-1].cursor
    await admin.control("clock", {"advance_ms": 1000})
    await admin.control("clock", {"freeze": True})  # everything below shares one SystemModstamp
    for rid in accounts[:199]:
        await admin.update("Account", rid, {"Description": "touched"})
    master, victim = accounts[199], accounts[200]
    await merge(admin, "Account", master, victim)
    pages = await read_all(connector, "Account", cursor)
    assert len(pages) == 2
    assert [r.id for r in pages[0].upserts][-1] == master and pages[0].upserts[-1].merged_ids == ()
    assert [(t.id, t.merged_into) for t in pages[1].tombstones] == [(victim, master)]
    assert [(r.id, r.merged_ids) for r in pages[1].upserts] == [(master, (victim,))]


async def test_deleted_deal_with_contact_roles_is_one_tombstone(connector: SalesforceConnector, admin: Admin) -> None:
    contact = await admin.create("Contact", {"LastName": "Buyer"})
    deal = await admin.create("Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-12-01"})
    await admin.create("OpportunityContactRole", {"OpportunityId": deal, "ContactId": contact})
    cursor = (await read_all(connector, "Opportunity", None))[-1].cursor
    await admin.control("clock", {"advance_ms": 1000})
    await admin.delete("Opportunity", deal)  # the delete cascades to the contact role
    await admin.control("clock", {"advance_ms": 1000})
    pages = await read_all(connector, "Opportunity", cursor)
    assert [t.id for p in pages for t in p.tombstones] == [deal]
    assert [r.id for p in pages for r in p.upserts] == []


async def test_a_page_holds_each_record_once_newest_wins() -> None:
    old = RemoteRecord("Account", "001A", {"Name": "old"}, datetime(2026, 1, 1, tzinfo=UTC))
    new = RemoteRecord("Account", "001A", {"Name": "new"}, datetime(2026, 1, 2, tzinfo=UTC))
    gone = Tombstone("Account", "001B", datetime(2026, 1, 1, tzinfo=UTC))
    page = SalesforceConnector._page([old, gone, new, gone], SalesforceCursor("Account", StreamState()), more=False)
    assert page.upserts == (new,) and page.tombstones == (gone,)


class TruncatingWrites(httpx.AsyncBaseTransport):
    """The emulator, except that the first `cut` collection-write answers are cut short after being applied."""

    def __init__(self, app: Starlette, cut: int) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.cut = cut
        self.writes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method in ("POST", "PATCH") and request.url.path.endswith(("/composite/sobjects", f"/{EXT}")):
            self.writes += 1
            if self.cut > 0:
                self.cut -= 1
                body = await response.aread()
                return httpx.Response(200, content=body[: len(body) // 2], headers={"content-type": "application/json"})
        return response


async def test_unreadable_answers_are_re_sent_for_upserts_but_not_for_plain_creates(
    app: Starlette, settings: SalesforceSettings
) -> None:
    transport = TruncatingWrites(app, cut=1)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        connector = SalesforceConnector(settings, connection="sf-test", client=http, sleep=Sleeps())
        [upserted] = await connector.apply(
            "Account", [WriteOp("create", "a1", fields={"Name": "A"}, external_id=(EXT, "a1"))]
        )
        assert upserted.ok and transport.writes == 2  # re-sent: the upsert by external id is idempotent
        transport.cut, transport.writes = 1, 0
        [created] = await connector.apply("Task", [WriteOp("create", "t1", fields={"Subject": "Call"})])
        assert transport.writes == 1  # not re-sent: a second POST could create a second task
        assert not created.ok and created.error is not None
        assert created.error.classification == "fatal" and created.error.code == "UNKNOWN_OUTCOME"
        assert "sf-test" in created.error.message and "Task" in created.error.message
    assert len(list(app.state.vendor.org.coll("Account").scan())) == 1
