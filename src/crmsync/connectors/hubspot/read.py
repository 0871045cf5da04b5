"""Fetch by id: batch read (≤100), missing ids as Tombstones, merged-away ids re-pointed to the survivor."""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot.links import chunks, read_links
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.records import parse_record, results_of
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.errors import VendorResponseError


async def fetch(
    http: VendorHttp, settings: HubSpotSettings, info: ObjectInfo, ids: Sequence[str], properties: Sequence[str]
) -> list[RemoteRecord | Tombstone]:
    props = list(dict.fromkeys([*properties, info.modprop, "hs_merged_object_ids", "hs_object_id"]))
    found: dict[str, RemoteRecord | Tombstone] = {}
    context = f"hubspot {info.name} batch/read"
    full_context = f"{http.connection}: {context}"
    for chunk in chunks(list(dict.fromkeys(ids)), settings.batch_size):
        response = await http.request(
            "POST",
            f"/crm/v3/objects/{info.name}/batch/read",
            context=context,
            json={"properties": props, "inputs": [{"id": record_id} for record_id in chunk]},
            accept=(207,),
        )
        body = parse_json(response, full_context)
        records = [parse_record(raw, info, full_context) for raw in results_of(body, full_context)]
        by_id = {r.id: r for r in records}
        survivor_of = {old: r.id for r in records for old in r.merged_ids}
        missing: set[str] = set()
        for error in body.get("errors") or []:
            ids_in_error = error.get("context", {}).get("ids") if isinstance(error, dict) else None
            if isinstance(ids_in_error, list):
                missing.update(str(i) for i in ids_in_error)
        for record_id in chunk:
            if record_id in by_id:
                found[record_id] = by_id[record_id]
            elif record_id in survivor_of:
                # HubSpot answers a merged-away id with the merged record under its new id.
                found[record_id] = Tombstone(info.name, record_id, merged_into=survivor_of[record_id])
            elif record_id in missing:
                found[record_id] = Tombstone(info.name, record_id)
            else:
                raise VendorResponseError(f"{full_context}: record {record_id}: neither returned nor reported missing")
    records_found = [r for r in found.values() if isinstance(r, RemoteRecord)]
    if settings.read_links and info.links and records_found:
        links = await read_links(http, info, [r.id for r in records_found], batch_size=settings.association_batch_size)
        for key, value in list(found.items()):
            if isinstance(value, RemoteRecord):
                found[key] = RemoteRecord(
                    value.object, value.id, value.fields, value.modified_at, value.version, links[value.id],
                    value.merged_ids,
                )  # fmt: skip
    return [found[record_id] for record_id in ids]
