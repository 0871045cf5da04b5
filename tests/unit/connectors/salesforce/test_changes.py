"""Change detection: full and incremental reads, stamps shared across page boundaries, tombstones, merges."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import cast

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.connectors.base import ChangePage, Cursor
from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.errors import VendorResponseError

from .conftest import Admin


async def read_all(
    connector: SalesforceConnector, obj: str, cursor: Cursor | None, fields: Sequence[str] | None = None
) -> tuple[list[ChangePage], Cursor]:
    pages = [page async for page in connector.changes(obj, cursor, fields=fields)]
    assert pages
    assert not pages[-1].more
    return pages, pages[-1].cursor


def upsert_ids(pages: list[ChangePage]) -> list[str]:
    return [r.id for p in pages for r in p.upserts]


async def freeze(admin: Admin) -> None:
    await admin.control("clock", {"freeze": True})


async def test_full_read_pages_through_every_record(
    app: Starlette, connector: SalesforceConnector, admin: Admin
) -> None:
    app.state.vendor.seed(3, 9000)
    expected = {r.id for r in app.state.vendor.org.coll("Contact").scan()}
    pages, _ = await read_all(connector, "Contact", None)
    ids = upsert_ids(pages)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert len(pages) == -(-len(expected) // 2000)  # full 2,000-record pages
    stats = await admin.stats()
    api_calls = sum(op["calls"] for name, op in stats["operations"].items() if "token" not in name)
    assert api_calls == len(pages) + 1  # the pages and one describe


async def test_incremental_read_sees_edits_deletes_and_nothing_twice(
    connector: SalesforceConnector, admin: Admin
) -> None:
    a = await admin.create("Contact", {"LastName": "A"})
    b = await admin.create("Contact", {"LastName": "B"})
    _, cursor = await read_all(connector, "Contact", None)
    pages, cursor = await read_all(connector, "Contact", cursor)
    assert upsert_ids(pages) == []
    await admin.control("clock", {"advance_ms": 2000})
    await admin.update("Contact", a, {"FirstName": "Ann"})
    await admin.delete("Contact", b)
    pages, cursor = await read_all(connector, "Contact", cursor)
    assert upsert_ids(pages) == [a]
    assert pages[0].upserts[0].fields["FirstName"] == "Ann"
    assert [t.id for p in pages for t in p.tombstones] == [b]
    assert pages[-1].tombstones[0].merged_into is None
    pages, _ = await read_all(connector, "Contact", cursor)
    assert upsert_ids(pages) == [] and not any(p.tombstones for p in pages)


async def test_shared_stamp_across_page_boundary_is_never_skipped(
    settings: SalesforceSettings, client: httpx.AsyncClient, admin: Admin
) -> None:
    connector = SalesforceConnector(
        settings.model_copy(update={"query_batch_size": 200}), connection="sf-test", client=client
    )
    await freeze(admin)  # every write below shares one SystemModstamp
    created = [await admin.create("Account", {"Name": f"Acme {i}"}) for i in range(450)]
    first = cast(AsyncGenerator[ChangePage, None], connector.changes("Account", None))
    page = await anext(first)
    assert len(page.upserts) == 200 and page.more
    await first.aclose()  # stop after one page, as a crashed run would
    # More rows arrive at the very same stamp, one of them with a smaller id than those delivered.
    late = await admin.create("Account", {"Name": "Late"})
    await admin.update("Account", created[0], {"Name": "Acme 0 renamed"})
    pages, cursor = await read_all(connector, "Account", page.cursor)
    seen = {r.id for r in page.upserts} | set(upsert_ids(pages))
    assert seen == {*created, late}
    assert created[0] in upsert_ids(pages)  # re-modified within the same stamp: delivered again
    pages, _ = await read_all(connector, "Account", cursor)
    assert upsert_ids(pages) == []


async def test_merge_is_a_re_point_not_a_delete(connector: SalesforceConnector, admin: Admin) -> None:
    master = await admin.create("Account", {"Name": "Survivor"})
    victim = await admin.create("Account", {"Name": "Victim"})
    contact = await admin.create("Contact", {"LastName": "Kid", "AccountId": victim})
    _, cursor = await read_all(connector, "Account", None)
    _, contact_cursor = await read_all(connector, "Contact", None)
    await admin.control("clock", {"advance_ms": 1000})
    await admin.control("merge", {"object": "Account", "master_id": master, "victim_ids": [victim]})
    pages, _ = await read_all(connector, "Account", cursor)
    tombstones = [t for p in pages for t in p.tombstones]
    assert [(t.id, t.merged_into) for t in tombstones] == [(victim, master)]
    assert master in upsert_ids(pages)
    pages, _ = await read_all(connector, "Contact", contact_cursor)
    assert [(r.id, r.links["company"]) for p in pages for r in p.upserts] == [(contact, (master,))]


async def test_requested_fields_and_unknown_fields(connector: SalesforceConnector, admin: Admin) -> None:
    await admin.create("Contact", {"LastName": "Z", "Tier__c": "Gold"})
    pages, _ = await read_all(connector, "Contact", None, fields=["LastName", "Tier__c"])
    record = pages[0].upserts[0]
    assert record.fields["Tier__c"] == "Gold"
    assert "Email" not in record.fields
    with pytest.raises(Exception, match="unknown fields"):
        await read_all(connector, "Contact", None, fields=["Nope__c"])


async def test_expired_query_locator_restarts_from_the_last_cursor(
    app: Starlette, settings: SalesforceSettings, client: httpx.AsyncClient, admin: Admin
) -> None:
    app.state.vendor.seed(5, 2000)
    connector = SalesforceConnector(
        settings.model_copy(update={"query_batch_size": 200}), connection="sf-test", client=client
    )
    ids: list[str] = []
    async for page in connector.changes("Contact", None):
        ids.extend(r.id for r in page.upserts)
        if len(ids) == 400:
            await admin.control("clock", {"advance_ms": 16 * 60 * 1000})  # the locator expires (15 min idle)
            ids.append("marker")  # advance once
    ids.remove("marker")
    assert set(ids) == {r.id for r in app.state.vendor.org.coll("Contact").scan()}


class TruncatingTransport(httpx.AsyncBaseTransport):
    """The emulator, except that queryAll answers are cut short (a proxy dropping the connection mid-body)."""

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.cut = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.cut and "queryAll" in request.url.path:
            body = await response.aread()
            return httpx.Response(200, content=body[: len(body) // 2], headers={"content-type": "application/json"})
        return response


async def test_a_truncated_page_raises_and_leaves_the_cursor(
    app: Starlette, settings: SalesforceSettings, admin: Admin
) -> None:
    transport = TruncatingTransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as http:
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        connector = SalesforceConnector(settings, connection="sf-test", client=http, sleep=sleep)
        await admin.create("Contact", {"LastName": "Ok"})
        _, cursor = await read_all(connector, "Contact", None)
        await admin.control("clock", {"advance_ms": 1000})
        await admin.create("Contact", {"LastName": "New"})
        transport.cut = True
        with pytest.raises(VendorResponseError, match="sf-test: salesforce Contact changes"):
            await read_all(connector, "Contact", cursor)
        assert len(sleeps) == 5  # retried as transient first
        transport.cut = False
        pages, _ = await read_all(connector, "Contact", cursor)
        assert [r.fields["LastName"] for p in pages for r in p.upserts] == ["New"]
