"""Rows as the Web API returns them → RemoteRecord / Tombstone (merged subordinates, `$deletedEntity` rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.dynamics.links import LOOKUPS, needs_annotations, read_links
from crmsync.connectors.dynamics.settings import TableInfo
from crmsync.errors import VendorResponseError

MODIFIED = "modifiedon"
MERGE_COLUMNS = ("merged", "_masterid_value", "statecode")
ANNOTATIONS_PREFER = 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'


@lru_cache(maxsize=4096)  # bounded small: a full sync meets every stamp of the org once
def parse_stamp(text: str) -> datetime:
    """`2024-01-31T14:05:00Z` → aware UTC datetime (cached: stamps repeat at 1-second resolution)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def stamp_text(value: datetime) -> str:
    """A datetime as an unquoted OData literal (`2024-01-31T14:05:00Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select_for(table: TableInfo, fields: Sequence[str] | None) -> str | None:
    """`$select` for a read: the requested columns plus the id, stamp, link lookups and merge markers.

    None (all columns) when no fields were asked for: every column is then returned, links and merge
    markers included.
    """
    if fields is None:
        return None
    wanted: list[str] = [table.primary_id, MODIFIED]
    wanted.extend(prop for prop, _ in LOOKUPS.get(table.logical_name, ()))
    if table.mergeable:
        wanted.extend(MERGE_COLUMNS)
    for name in fields:
        prop = name if name.startswith("_") or name not in _LOOKUP_COLUMNS else f"_{name}_value"
        wanted.append(prop)
    return ",".join(dict.fromkeys(wanted))


# Lookup logical names a caller may ask for by column name; read as `_x_value`.
_LOOKUP_COLUMNS = frozenset(
    {
        "parentcustomerid",
        "customerid",
        "parentaccountid",
        "parentcontactid",
        "primarycontactid",
        "regardingobjectid",
        "objectid",
        "ownerid",
        "masterid",
        "createdby",
        "modifiedby",
        "transactioncurrencyid",
    }
)


def prefer_header(table: TableInfo, page_size: int | None = None, *, track_changes: bool = False) -> str:
    parts: list[str] = []
    if track_changes:
        parts.append("odata.track-changes")
    if page_size is not None:
        parts.append(f"odata.maxpagesize={page_size}")
    if needs_annotations(table.logical_name):
        parts.append(ANNOTATIONS_PREFER)
    return ",".join(parts)


def is_deleted_entity(row: dict[str, Any]) -> bool:
    context = row.get("@odata.context")
    return (isinstance(context, str) and context.endswith("$deletedEntity")) or row.get("reason") == "deleted"


def to_change(table: TableInfo, row: Any, context: str) -> RemoteRecord | Tombstone:
    """One row of a list or delta response; anything not documented raises VendorResponseError."""
    if not isinstance(row, dict):
        raise VendorResponseError(f"{context}: a row is not a JSON object")
    record_id = row.get(table.primary_id)
    if record_id is None and is_deleted_entity(row):
        deleted_id = row.get("id")
        if not isinstance(deleted_id, str) or not deleted_id:
            raise VendorResponseError(f"{context}: a $deletedEntity row has no id")
        return Tombstone(object=table.logical_name, id=deleted_id)
    if not isinstance(record_id, str) or not record_id:
        raise VendorResponseError(f"{context}: a row has no {table.primary_id}")
    stamp = row.get(MODIFIED)
    try:
        modified = parse_stamp(stamp)
    except (TypeError, ValueError) as exc:
        where = f"{context} {table.logical_name} {record_id}"
        raise VendorResponseError(f"{where}: modifiedon {str(stamp)[:40]!r} is not an ISO datetime") from exc
    if table.mergeable and row.get("merged") is True:
        master = row.get("_masterid_value")
        if isinstance(master, str) and master:
            return Tombstone(object=table.logical_name, id=record_id, deleted_at=modified, merged_into=master)
    etag = row.get("@odata.etag")
    try:
        links = read_links(table.logical_name, row)
    except VendorResponseError as exc:
        raise VendorResponseError(f"{context} {table.logical_name} {record_id}: {exc}") from exc
    return RemoteRecord(
        object=table.logical_name,
        id=record_id,
        fields={k: v for k, v in row.items() if "@" not in k},
        modified_at=modified,
        version=etag if isinstance(etag, str) else None,
        links=links,
    )


def page_rows(body: Any, context: str) -> tuple[list[Any], str | None, str | None]:
    """(value, nextLink, deltaLink) of a collection response, or VendorResponseError."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise VendorResponseError(f"{context}: the response has no 'value' array")
    next_link = body.get("@odata.nextLink")
    delta_link = body.get("@odata.deltaLink")
    if next_link is not None and not isinstance(next_link, str):
        raise VendorResponseError(f"{context}: @odata.nextLink is not a string")
    if delta_link is not None and not isinstance(delta_link, str):
        raise VendorResponseError(f"{context}: @odata.deltaLink is not a string")
    return body["value"], next_link, delta_link
