"""Look rows up by a column's values (email, before a create): `Microsoft.Dynamics.CRM.In` filters, sent as the GET
parts of one `$batch`, so a round of up to 1,000 creates costs one request whatever the length of its URLs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote

from crmsync.connectors.base import RemoteRecord
from crmsync.connectors.dynamics import batch
from crmsync.connectors.dynamics.errors import write_error
from crmsync.connectors.dynamics.fetch import GetJson
from crmsync.connectors.dynamics.merges import absorbed_ids, with_merged_ids
from crmsync.connectors.dynamics.records import page_rows, prefer_header, select_for, to_change
from crmsync.connectors.dynamics.settings import ODATA_HEADERS, DynamicsSettings, TableInfo
from crmsync.errors import InvalidRecordError, TransientError

SendBatch = Callable[[list[batch.BatchRequest], str, bool], Awaitable[list[batch.BatchResponse]]]

IN_TEXT = 12_000
"""Characters of quoted values per `In(...)`: a part's URL, percent-encoded, stays well inside the 64 KB Dataverse
takes for a GET inside a `$batch` (32 KB outside one)."""

MAX_PARTS = 1000
"""Requests per `$batch` (Dataverse's limit)."""

_QUERY_SAFE = "$,()'=:/*-._~@[]"


async def find_by(
    settings: DynamicsSettings,
    table: TableInfo,
    column: str,
    values: Sequence[str],
    fields: Sequence[str] | None,
    *,
    send_batch: SendBatch,
    get_json: GetJson,
    connection: str,
) -> list[RemoteRecord]:
    """Live rows whose `column` is one of `values` (Dataverse compares text without regard to case), oldest first."""
    literals = ["'" + v.replace("'", "''") + "'" for v in dict.fromkeys(values) if v]
    chunks: list[list[str]] = []
    for literal in literals:
        if not chunks or sum(len(x) + 1 for x in chunks[-1]) + len(literal) > IN_TEXT:
            chunks.append([])
        chunks[-1].append(literal)
    select = select_for(table, fields)
    prefer = prefer_header(table, settings.page_size)
    headers = {**ODATA_HEADERS, "Prefer": prefer} if prefer else dict(ODATA_HEADERS)
    what = f"{table.logical_name} look-up of {len(literals)} by {column}"
    context = f"{connection}: dynamics {what}"
    requests: list[batch.BatchRequest] = []
    for part in chunks:
        where = f"Microsoft.Dynamics.CRM.In(PropertyName='{column}',PropertyValues=[{','.join(part)}])"
        params = [("$filter", where), ("$orderby", f"createdon asc,{table.primary_id} asc")]
        if select:
            params.insert(0, ("$select", select))
        query = "&".join(f"{k}={quote(v, safe=_QUERY_SAFE)}" for k, v in params)
        requests.append(batch.BatchRequest("GET", f"{settings.api_root}/{table.entity_set}?{query}", headers=headers))
    found: dict[str, RemoteRecord] = {}
    for start in range(0, len(requests), MAX_PARTS):
        responses = await send_batch(requests[start : start + MAX_PARTS], what, True)  # reads: safe to resend
        if len(responses) != len(requests[start : start + MAX_PARTS]):
            raise TransientError(f"{context}: the $batch answered {len(responses)} parts")
        for response in responses:
            if response.status >= 400:
                error = write_error(response.status, response.body)
                failed = TransientError if error.retryable else InvalidRecordError
                raise failed(f"{context}: {error.code}: {error.message}")
            body = response.json()
            rows: list[RemoteRecord] = []
            while True:
                page, next_link, _ = page_rows(body, context)
                rows.extend(c for row in page if isinstance(c := to_change(table, row, context), RemoteRecord))
                if next_link is None:
                    break
                body = await get_json(next_link, None, prefer, context)
            for record in rows:
                found.setdefault(record.id.lower(), record)
    records = list(found.values())
    if table.mergeable and settings.merged_ids and records:
        absorbed = await absorbed_ids(settings, get_json, table, [r.id for r in records], context)
        records = [c for c in with_merged_ids(records, absorbed) if isinstance(c, RemoteRecord)]
    return records
