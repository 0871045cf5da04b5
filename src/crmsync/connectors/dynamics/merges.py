"""Merge survivors: the ids a record absorbed (subordinates whose `masterid` points at it) → `merged_ids`.

Dataverse keeps merged subordinates readable (`merged = true`, `masterid` = survivor) and says nothing on the
survivor itself, so its absorbed ids are found by asking for the rows whose `masterid` is the survivor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.dynamics.records import page_rows
from crmsync.connectors.dynamics.settings import DynamicsSettings, TableInfo
from crmsync.errors import VendorResponseError

GetJson = Callable[[str, list[tuple[str, str]] | None, str, str], Awaitable[Any]]


async def absorbed_ids(
    settings: DynamicsSettings, get_json: GetJson, table: TableInfo, survivors: Iterable[str], context: str
) -> dict[str, tuple[str, ...]]:
    """survivor id → the ids merged into it (only survivors that absorbed something appear)."""
    wanted = sorted(set(survivors))
    found: dict[str, list[str]] = {}
    url = f"{settings.api_root}/{table.entity_set}"
    prefer = f"odata.maxpagesize={settings.page_size}"
    for start in range(0, len(wanted), settings.fetch_chunk):
        values = ",".join(f"'{i}'" for i in wanted[start : start + settings.fetch_chunk])
        params = [
            ("$select", f"{table.primary_id},_masterid_value"),
            ("$filter", f"Microsoft.Dynamics.CRM.In(PropertyName='_masterid_value',PropertyValues=[{values}])"),
        ]
        body = await get_json(url, params, prefer, context)
        while True:
            rows, next_link, _ = page_rows(body, context)
            for row in rows:
                master, absorbed = row.get("_masterid_value"), row.get(table.primary_id)
                if not isinstance(master, str) or not isinstance(absorbed, str):
                    raise VendorResponseError(f"{context}: a merged {table.logical_name} row lacks its ids")
                found.setdefault(master, []).append(absorbed)
            if next_link is None:
                break
            body = await get_json(next_link, None, prefer, context)
    return {master: tuple(sorted(ids)) for master, ids in found.items()}


def with_merged_ids(
    changes: Sequence[RemoteRecord | Tombstone], absorbed: dict[str, tuple[str, ...]]
) -> list[RemoteRecord | Tombstone]:
    return [
        dataclasses.replace(c, merged_ids=absorbed[c.id]) if isinstance(c, RemoteRecord) and c.id in absorbed else c
        for c in changes
    ]
