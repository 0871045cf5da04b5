"""Responses HubSpot does not document (HTML pages, truncated or wrong-shaped bodies) become classified
errors naming connection and object, and never advance a cursor. MockTransport stands in for the
broken proxy or vendor, which the emulator does not produce."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from crmsync.connectors.base import ChangePage
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.errors import VendorResponseError
from tests.unit.connectors.hubspot.conftest import BASE, Sleeps, settings

PROPERTIES = {"results": [{"name": "email", "type": "string", "fieldType": "text", "hubspotDefined": True}]}
GOOD_RECORD = {"id": "1", "properties": {"email": "a@b.c"}, "updatedAt": "2026-01-01T00:00:00.000Z"}


def connector_for(handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps) -> HubSpotConnector:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE)
    return HubSpotConnector(settings(read_links=False), connection="hs-broken", client=client, sleep=sleeps)


def listing(page_two: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/search"):
            return httpx.Response(200, json={"total": 1, "results": [GOOD_RECORD]})
        if request.url.params.get("after") == "page2":
            return page_two
        return httpx.Response(200, json={"results": [GOOD_RECORD], "paging": {"next": {"after": "page2"}}})

    return handler


@pytest.mark.parametrize(
    "page_two",
    [
        httpx.Response(200, content=b'{"results": [{"id": "2", "propert', headers={"content-type": "application/json"}),
        httpx.Response(200, content=b"<html><body>Gateway</body></html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"results": [{"id": "2", "properties": "oops", "updatedAt": "x"}]}),
        httpx.Response(200, json={"items": []}),
        httpx.Response(200, json={"results": [{"id": "3", "properties": {}}]}),
    ],
)
async def test_bad_pages_raise_classified_errors_and_keep_the_cursor(page_two: httpx.Response, sleeps: Sleeps) -> None:
    connector = connector_for(listing(page_two), sleeps)
    pages: list[ChangePage] = []

    async def read_all() -> None:
        async for page in connector.changes("contacts", None, fields=["email"]):
            pages.append(page)

    with pytest.raises(VendorResponseError, match="hs-broken: hubspot contacts") as caught:
        await read_all()
    assert len(pages) == 1 and pages[0].more  # only the page that parsed completely was handed out
    assert "pat-" not in str(caught.value)


async def test_an_html_error_page_is_retried_then_reported(sleeps: Sleeps) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=b"<html>Bad gateway</html>", headers={"content-type": "text/html"})

    connector = connector_for(handler, sleeps)
    with pytest.raises(Exception, match="hs-broken: hubspot contacts describe") as caught:
        await connector.describe("contacts")
    assert len(sleeps.waits) == 5 and "502" in str(caught.value)


async def test_batch_read_without_an_answer_for_an_id_is_an_error(sleeps: Sleeps) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/batch/read"):
            return httpx.Response(200, json={"status": "COMPLETE", "results": []})
        return httpx.Response(200, json=PROPERTIES)

    connector = connector_for(handler, sleeps)
    with pytest.raises(VendorResponseError, match="record 5: neither returned nor reported missing"):
        await connector.fetch("contacts", ["5"])
