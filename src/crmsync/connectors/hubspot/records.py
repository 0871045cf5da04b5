"""Parses HubSpot object JSON into RemoteRecords and merge Tombstones, refusing undocumented shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.errors import VendorResponseError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# v3 names of the labelled "Primary" associations (the unlabeled ones end in `_unlabeled`).
PRIMARY_TYPE_NAMES = frozenset(("contact_to_company", "deal_to_company"))


def parse_time(value: Any) -> datetime | None:
    """HubSpot stamps: ISO-8601 (`2026-02-25T16:23:49.023Z`) or a ms epoch string."""
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def stamp_ms(moment: datetime) -> int:
    return round((moment - EPOCH).total_seconds() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _bad(context: str, what: str, record_id: Any = None) -> VendorResponseError:
    where = f" record {record_id}" if record_id is not None else ""
    return VendorResponseError(f"{context}:{where} {what}", retryable=True)


def results_of(body: Any, context: str) -> list[dict[str, Any]]:
    """`results` of a list, search or batch response (a missing list is not what HubSpot documents)."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise _bad(context, "the response has no `results` array")
    return results


def next_after(body: dict[str, Any], context: str) -> str | None:
    paging = body.get("paging")
    if paging is None:
        return None
    after = paging.get("next", {}).get("after") if isinstance(paging, dict) else None
    if after is None and isinstance(paging, dict) and paging.get("next") is None:
        return None
    if not isinstance(after, str | int) or isinstance(after, bool) or str(after) == "":
        raise _bad(context, "`paging.next.after` is not a cursor")
    return str(after)


def parse_record(
    raw: Mapping[str, Any], info: ObjectInfo, context: str, *, links: Mapping[str, tuple[str, ...]] | None = None
) -> RemoteRecord:
    record_id = raw.get("id")
    if not isinstance(record_id, str | int) or isinstance(record_id, bool) or str(record_id) == "":
        raise _bad(context, "a result has no `id`")
    record_id = str(record_id)
    props = raw.get("properties")
    if not isinstance(props, dict):
        raise _bad(context, "has no `properties` object", record_id)
    modified = parse_time(raw.get("updatedAt")) or parse_time(props.get(info.modprop))
    if modified is None:
        raise _bad(context, f"has neither `updatedAt` nor `{info.modprop}`", record_id)
    merged = props.get("hs_merged_object_ids")
    merged_ids = tuple(i for i in merged.split(";") if i) if isinstance(merged, str) and merged else ()
    if links is None:
        links = associations_block(raw.get("associations"), info, context, record_id)
    return RemoteRecord(
        object=info.name,
        id=record_id,
        fields=props,
        modified_at=modified,
        version=str(raw.get("updatedAt") or props.get(info.modprop)),
        links=links,
        merged_ids=merged_ids,
    )


def associations_block(block: Any, info: ObjectInfo, context: str, record_id: str) -> dict[str, tuple[str, ...]]:
    """The v3 `associations` of a list result: `{"companies": {"results": [{"id", "type"}]}}` by role.

    Every role the object has is present (empty when none), so links read this way are complete.
    Primary associations come first (a contact's primary company).
    """
    links: dict[str, tuple[str, ...]] = {role.role: () for role in info.links}
    if block is None:
        return links
    if not isinstance(block, dict):
        raise _bad(context, "`associations` is not an object", record_id)
    for target, entry in block.items():
        role = info.role_of_target(target)
        if role is None:
            continue
        rows = entry.get("results") if isinstance(entry, dict) else None
        if not isinstance(rows, list):
            raise _bad(context, f"`associations.{target}.results` is not an array", record_id)
        ranked: list[tuple[int, str]] = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("id"), str | int):
                raise _bad(context, f"an `associations.{target}` entry has no id", record_id)
            ranked.append((0 if row.get("type") in PRIMARY_TYPE_NAMES else 1, str(row["id"])))
        ranked.sort(key=lambda item: item[0])
        links[role.role] = tuple(dict.fromkeys(i for _, i in ranked))
    return links


def merge_tombstones(record: RemoteRecord) -> list[Tombstone]:
    """A survivor's absorbed ids are re-points to it, not deletes."""
    return [
        Tombstone(record.object, old, deleted_at=record.modified_at, merged_into=record.id)
        for old in record.merged_ids
        if old != record.id
    ]
