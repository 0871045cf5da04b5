"""Query rows to RemoteRecords and Tombstones, stamps, and SOQL literal formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.salesforce.links import read_links
from crmsync.errors import VendorResponseError

SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")


@lru_cache(maxsize=4096)
def parse_stamp(text: str) -> datetime:
    """`2026-05-01T07:25:37.000+0000` (cached: stamps cluster, and this runs for every record read)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def stamp_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def soql_datetime(ms: int) -> str:
    """A SOQL datetime literal, floored to the second (the documented literal has no fraction)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_ids(ids: list[str]) -> str:
    """`('a','b')` for an IN clause; ids are checked so nothing can break out of the quotes."""
    for rid in ids:
        if not rid.isascii() or not rid.isalnum():
            raise ValueError(f"not a Salesforce id: {rid!r}")
    return "(" + ",".join(f"'{rid}'" for rid in ids) + ")"


_SOQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", '"': '\\"'}


def soql_string(value: str) -> str:
    """A SOQL string literal: quotes, backslashes and control characters escaped as SOQL's escape sequences."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def to_change(obj: str, row: Any, context: str) -> RemoteRecord | Tombstone:
    """One queryAll row: a deleted row is a Tombstone (a re-point when it carries MasterRecordId)."""
    if not isinstance(row, dict):
        raise VendorResponseError(f"{context}: a query record is not a JSON object")
    row.pop("attributes", None)
    rid, stamp = row.get("Id"), row.get("SystemModstamp")
    if not isinstance(rid, str) or not isinstance(stamp, str):
        raise VendorResponseError(f"{context}: a query record lacks Id or SystemModstamp (record {rid!r})")
    try:
        modified = parse_stamp(stamp)
    except ValueError:
        raise VendorResponseError(f"{context}: record {rid}: SystemModstamp {stamp[:40]!r} is not a datetime") from None
    if row.get("IsDeleted") is True:
        master = row.get("MasterRecordId")
        return Tombstone(obj, rid, deleted_at=modified, merged_into=master if isinstance(master, str) else None)
    return RemoteRecord(obj, rid, row, modified, version=stamp, links=read_links(obj, row))


_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def to_id18(rid: str) -> str:
    """The 18-character, case-insensitive form of a 15-character id (18-character ids pass through)."""
    if len(rid) != 15:
        return rid
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(rid[start : start + 5]) if "A" <= ch <= "Z")
        suffix += _CHECKSUM[bits]
    return rid + suffix


def is_id(rid: str) -> bool:
    return len(rid) in (15, 18) and rid.isascii() and rid.isalnum()
