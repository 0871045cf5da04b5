"""A record back in a CRM it was gone from: entered there again and matched, or brought there by a vendor merge.

A record deleted in one CRM may live on in the others, gone from that one: its delete was ignored or
archived (S11), or parked for a person to decide against an edit elsewhere (S13). Once a live record
of the same person is linked there again, the person is back in that CRM: crmsync syncs it there like
anywhere else, and that CRM's delete no longer asks anyone for a decision.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from crmsync.engine.state import gone_from, without_gone
from crmsync.store import AuditEntry, Transaction
from crmsync.store import GoldenRecord as StoredGolden

DELETED_FIELD = "@deleted"
"""The pseudo-field a delete-versus-edit conflict is parked on (S13); the record coming back settles it."""
REENTRY_RESOLVER = "crmsync (entered again)"
"""Who closes a delete-versus-edit conflict once the person was entered again everywhere it was deleted."""


async def bring_back(
    tx: Transaction,
    stored: StoredGolden,
    back: Collection[str],
    *,
    reason: str,
    resolver: str,
    at: datetime,
) -> tuple[StoredGolden, list[AuditEntry]]:
    """The record no longer gone from the connections in `back` (the caller stores it), and its audit.

    Their deletes drop out of a parked delete-versus-edit conflict; one with no delete left is
    resolved (kept) by `resolver`.
    """
    canonical_id = stored.record.id
    returning = sorted(c for c in gone_from(stored) if c in back)
    if not returning:
        return stored, []
    for connection in returning:
        stored = without_gone(stored, connection)
    audit = [AuditEntry(canonical_id, DELETED_FIELD, True, False, c, reason, at) for c in returning]
    for conflict in await tx.conflicts.list(canonical_id):
        if conflict.field != DELETED_FIELD:
            continue
        left = [s for s in conflict.sides if not (s.value is True and s.connection in returning)]
        if not any(s.value is True for s in left):
            await tx.conflicts.resolve(conflict.id, False, resolver)
        elif len(left) < len(conflict.sides):
            await tx.conflicts.park(canonical_id, DELETED_FIELD, conflict.base, left)
    return stored, audit


__all__ = ["DELETED_FIELD", "REENTRY_RESOLVER", "bring_back"]
