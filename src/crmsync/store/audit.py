"""The audit trail: field-level history of golden records, append-only."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from crmsync.store.codec import decode_value, encode_value
from crmsync.store.tables import audit
from crmsync.store.values import AuditEntry


class Audit:
    """Append entries and list a record's history, oldest first."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def append(self, entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "canonical_id": e.canonical_id,
                "field": e.field,
                "old": encode_value(e.old),
                "new": encode_value(e.new),
                "connection": e.connection,
                "reason": e.reason,
                "at": e.at,
            }
            for e in entries
        ]
        await self._db.execute(sa.insert(audit), rows)

    async def list(self, canonical_id: str, field: str | None = None) -> list[AuditEntry]:
        query = sa.select(audit).where(audit.c.canonical_id == canonical_id).order_by(audit.c.id)
        if field is not None:
            query = query.where(audit.c.field == field)
        return [
            AuditEntry(
                canonical_id=row.canonical_id,
                field=row.field,
                old=decode_value(row.old),
                new=decode_value(row.new),
                connection=row.connection,
                reason=row.reason,
                at=row.at,
            )
            for row in await self._db.execute(query)
        ]
