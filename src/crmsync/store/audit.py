"""The audit trail: field-level history of golden records, append-only.

Changes of one record made at once (same connection, rule and time) share a row: its `field` is `GROUPED`
and its `new` the list of `[field, old, new]`, in order. A first sync records every field of every record,
and a row each made the audit more than half of a state database's rows and 7 % of a full sync's time. Readers
see one `AuditEntry` per change either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.codec import decode_value, encode_value
from crmsync.store.tables import audit
from crmsync.store.values import AuditEntry

GROUPED = "*"
"""`field` of a row holding several changes (no canonical field is named so)."""


class Audit:
    """Append entries and list a record's history, oldest first."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        await self._db.execute(sa.insert(audit), [_row(group) for group in _groups(entries)])

    async def list(self, canonical_id: str, field: str | None = None) -> list[AuditEntry]:
        query = sa.select(audit).where(audit.c.canonical_id == canonical_id).order_by(audit.c.id)
        if field is not None:
            query = query.where(audit.c.field.in_([field, GROUPED]))
        entries: list[AuditEntry] = []
        for row in await self._db.execute(query):
            if row.field != GROUPED:
                entries.append(_entry(row, row.field, row.old, row.new))
                continue
            entries.extend(_entry(row, name, old, new) for name, old, new in row.new if field in (None, name))
        return entries


def _groups(entries: Sequence[AuditEntry]) -> list[list[AuditEntry]]:
    """Entries sharing record, connection, rule and time, in order; a field met again starts a new group."""
    groups: list[list[AuditEntry]] = []
    open_groups: dict[tuple[str, str, str, datetime], tuple[list[AuditEntry], set[str]]] = {}
    for entry in entries:
        key = (entry.canonical_id, entry.connection, entry.reason, entry.at)
        group, fields = open_groups.get(key, (None, set()))
        if group is None or entry.field in fields:
            group, fields = open_groups[key] = ([], set())
            groups.append(group)
        group.append(entry)
        fields.add(entry.field)
    return groups


def _row(group: Sequence[AuditEntry]) -> dict[str, Any]:
    first = group[0]
    row: dict[str, Any] = {
        "canonical_id": first.canonical_id,
        "connection": first.connection,
        "reason": first.reason,
        "at": first.at,
        "changes": len(group),
    }
    if len(group) == 1:
        return row | {"field": first.field, "old": encode_value(first.old), "new": encode_value(first.new)}
    changes = [[e.field, encode_value(e.old), encode_value(e.new)] for e in group]
    return row | {"field": GROUPED, "old": None, "new": changes}


def _entry(row: sa.Row[Any], field: str, old: Any, new: Any) -> AuditEntry:
    return AuditEntry(
        canonical_id=row.canonical_id,
        field=field,
        old=decode_value(old),
        new=decode_value(new),
        connection=row.connection,
        reason=row.reason,
        at=row.at,
    )
