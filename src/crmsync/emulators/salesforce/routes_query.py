"""SOQL endpoints: query, queryAll and the nextRecordsUrl continuation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute

from crmsync.emulators.core.http import json_response, note
from crmsync.emulators.salesforce.api import DATA, Ctx, routes
from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.query import DEFAULT_BATCH

if TYPE_CHECKING:
    from crmsync.emulators.salesforce.vendor import SalesforceVendor


def batch_size(ctx: Ctx) -> int:
    """`Sforce-Query-Options: batchSize=N` is a hint between 200 and 2,000."""
    header = ctx.request.headers.get("sforce-query-options", "")
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        digits = value.strip()
        # isascii: str.isdigit also accepts superscripts such as "²", which int() refuses
        if key.strip().lower() == "batchsize" and digits.isascii() and digits.isdigit():
            return min(max(int(digits), 200), DEFAULT_BATCH)
    return DEFAULT_BATCH


def query_routes(vendor: SalesforceVendor) -> list[BaseRoute]:
    def run(include_deleted: bool, endpoint: str):  # type: ignore[no-untyped-def]
        async def handler(ctx: Ctx) -> Response:
            text = ctx.request.query_params.get("q")
            if text is None or not text.strip():
                raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
            page = vendor.queries.run(
                text, include_deleted=include_deleted, version=ctx.version, batch=batch_size(ctx), endpoint=endpoint
            )
            note(ctx.request, records=len(page["records"]))
            return json_response(page)

        return handler

    async def more(ctx: Ctx) -> Response:
        locator, _, offset = ctx.param("locator").rpartition("-")
        if not locator or not offset.isascii() or not offset.isdigit():
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        page = vendor.queries.more(locator, int(offset))
        note(ctx.request, records=len(page["records"]))
        return json_response(page)

    table = [
        (f"{DATA}/query", "query", ["GET"], run(False, "query")),
        (f"{DATA}/queryAll", "query_all", ["GET"], run(True, "queryAll")),
        (f"{DATA}/query/{{locator}}", "query_more", ["GET"], more),
        (f"{DATA}/queryAll/{{locator}}", "query_more", ["GET"], more),
    ]
    return routes(vendor, table)
