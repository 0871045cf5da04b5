"""Look records up by a property's values (email, before a create): CRM search with `IN` filters, one per group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmsync.connectors.base import RemoteRecord
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot.links import read_links
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.records import next_after, parse_record, results_of
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.errors import VendorResponseError

IN_VALUES = 100
"""Values per `IN` filter: HubSpot caps the values of one filter (unverified figure: kept to the batch size)."""

GROUPS = 5
"""Filter groups per search (ORed): the documented maximum since August 2024, so one search asks for 500 values."""


async def find_by(
    search_http: VendorHttp,
    http: VendorHttp,
    settings: HubSpotSettings,
    info: ObjectInfo,
    prop: str,
    values: Sequence[str],
    properties: Sequence[str],
) -> list[RemoteRecord]:
    """Live records whose `prop` is one of `values`, oldest first, with their links as `fetch` reads them.

    String values of `IN` are given lower-cased, as HubSpot stores and compares them. Search is eventually
    consistent: a record written a few seconds ago may not be found yet (the engine then reports the duplicate).
    """
    wanted = list(dict.fromkeys(v.lower() for v in values if v))
    props = list(dict.fromkeys([*properties, prop, info.modprop, "hs_merged_object_ids", "hs_object_id"]))
    context = f"hubspot {info.name} look-up"
    where = f"{search_http.connection}: {context}"
    found: dict[str, RemoteRecord] = {}
    per_search = IN_VALUES * GROUPS
    for start in range(0, len(wanted), per_search):
        part = wanted[start : start + per_search]
        groups = [
            {"filters": [{"propertyName": prop, "operator": "IN", "values": part[i : i + IN_VALUES]}]}
            for i in range(0, len(part), IN_VALUES)
        ]
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": groups,
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": props,
                "limit": settings.search_page_size,
            }
            if after is not None:
                body["after"] = after
            response = await search_http.request(
                "POST", f"/crm/v3/objects/{info.name}/search", context=context, json=body
            )
            answer = parse_json(response, where)
            if not isinstance(answer, dict):
                raise VendorResponseError(f"{where}: the body is not an object")
            for raw in results_of(answer, where):
                record = parse_record(raw, info, where)
                found.setdefault(record.id, record)
            after = next_after(answer, where)
            if after is None:
                break
    records = list(found.values())
    if settings.read_links and info.links and records:
        links = await read_links(http, info, [r.id for r in records], batch_size=settings.association_batch_size)
        records = [
            RemoteRecord(r.object, r.id, r.fields, r.modified_at, r.version, links[r.id], r.merged_ids) for r in records
        ]
    return records
