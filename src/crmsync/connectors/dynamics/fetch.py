"""`fetch()`: records by id through `Microsoft.Dynamics.CRM.In` filters; missing → Tombstone, merged → re-point."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.connectors.dynamics.merges import absorbed_ids, with_merged_ids
from crmsync.connectors.dynamics.records import page_rows, prefer_header, select_for, to_change
from crmsync.connectors.dynamics.settings import DynamicsSettings, TableInfo

GetJson = Callable[[str, list[tuple[str, str]] | None, str, str], Awaitable[Any]]
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Fetcher:
    def __init__(self, settings: DynamicsSettings, get_json: GetJson, connection: str) -> None:
        self.settings = settings
        self.get_json = get_json
        self.connection = connection

    async def fetch(
        self, table: TableInfo, ids: Sequence[str], fields: Sequence[str] | None
    ) -> list[RemoteRecord | Tombstone]:
        wanted = list(dict.fromkeys(i.lower() for i in ids if _GUID.match(i)))
        found: dict[str, RemoteRecord | Tombstone] = {}
        select = select_for(table, fields)
        prefer = prefer_header(table, self.settings.page_size)
        url = f"{self.settings.api_root}/{table.entity_set}"
        chunk = self.settings.fetch_chunk
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            context = f"{self.connection}: dynamics {table.logical_name} fetch of {len(part)} ({part[0]}…)"
            values = ",".join(f"'{i}'" for i in part)
            where = f"Microsoft.Dynamics.CRM.In(PropertyName='{table.primary_id}',PropertyValues=[{values}])"
            params = [("$filter", where)]
            if select:
                params.insert(0, ("$select", select))
            body = await self.get_json(url, params, prefer, context)
            chunk_found: list[RemoteRecord | Tombstone] = []
            while True:
                rows, next_link, _ = page_rows(body, context)
                chunk_found.extend(to_change(table, row, context) for row in rows)
                if next_link is None:
                    break
                body = await self.get_json(next_link, None, prefer, context)
            live = [c.id for c in chunk_found if isinstance(c, RemoteRecord)]
            if table.mergeable and self.settings.merged_ids and live:
                absorbed = await absorbed_ids(self.settings, self.get_json, table, live, context)
                chunk_found = with_merged_ids(chunk_found, absorbed)
            for change in chunk_found:
                found[change.id.lower()] = change
        # Ids that are not GUIDs cannot exist in Dataverse: they come back as tombstones too.
        return [found.get(i.lower()) or Tombstone(object=table.logical_name, id=i) for i in ids]
