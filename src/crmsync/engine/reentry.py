"""A record back in a CRM it was gone from: entered there again and matched, or brought there by a vendor merge.

A record deleted in one CRM may live on in the others, gone from that one: its delete was ignored or
archived (S11), or parked for a person to decide against an edit elsewhere (S13). Once a live record
of the same person is linked there again, the person is back in that CRM: crmsync syncs it there like
anywhere else, and that CRM's delete no longer asks anyone for a decision. Where its delete archived the
record (S11's archive policy), the mark it set on the others goes, and the value the mark covered is back.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from crmsync.config import DeletePolicy
from crmsync.engine.reconcile_types import REVERTED, REVERTED_FIRST_MET
from crmsync.engine.state import gone_from, without_gone
from crmsync.store import AuditEntry, Provenance, Transaction
from crmsync.store import GoldenRecord as StoredGolden

DELETED_FIELD = "@deleted"
"""The pseudo-field a delete-versus-edit conflict is parked on (S13); the record coming back settles it."""
REENTRY_RESOLVER = "crmsync (entered again)"
"""Who closes a delete-versus-edit conflict once the person was entered again everywhere it was deleted."""
ARCHIVE_RULE = "archive"
"""The reason (audit) and rule (provenance) of the mark an archived delete sets on the others."""


async def bring_back(
    tx: Transaction,
    stored: StoredGolden,
    back: Collection[str],
    *,
    reason: str,
    resolver: str,
    at: datetime,
    delete: DeletePolicy,
) -> tuple[StoredGolden, list[AuditEntry]]:
    """The record no longer gone from the connections in `back` (the caller stores it), and its audit.

    Their deletes drop out of a parked delete-versus-edit conflict; one with no delete left is
    resolved (kept) by `resolver`. `delete` is the object's delete policy: its archive field is unmarked.
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
    stored, unmarked = await _unarchive(tx, stored, returning, delete, reason, at)
    return stored, [*audit, *unmarked]


async def _unarchive(
    tx: Transaction, stored: StoredGolden, returning: Collection[str], delete: DeletePolicy, reason: str, at: datetime
) -> tuple[StoredGolden, list[AuditEntry]]:
    """The record with the archive mark of the returning connections' deletes taken off, and its audit.

    The mark goes only while it is the archive's own: a value a person set over it since is theirs. It
    stays while a connection that archived the record is still gone from it. What comes back is the value
    the first of those archives covered (the audit keeps it).
    """
    name = delete.archive_field
    mark = stored.provenance.get(name) if name is not None else None
    if name is None or mark is None or mark.reason != ARCHIVE_RULE or mark.connection not in returning:
        return stored, []
    history = await tx.audit.list(stored.record.id, name)
    archives: list[AuditEntry] = []
    for entry in reversed(history):  # the archives since the field last changed for another reason
        if entry.reason in {REVERTED, REVERTED_FIRST_MET}:
            continue  # a CRM's edit written over: no change of the golden value
        if entry.reason != ARCHIVE_RULE:
            break
        archives.insert(0, entry)
    still_gone = set(gone_from(stored))
    if not archives or any(entry.connection in still_gone for entry in archives):
        return stored, []
    covered = archives[0].old
    returned = min(returning)
    fields = {**stored.record.fields, name: covered}
    provenance = {**stored.provenance, name: Provenance(returned, at, reason)}
    unmarked = replace(stored, record=replace(stored.record, fields=fields), provenance=provenance)
    return unmarked, [AuditEntry(stored.record.id, name, stored.record.fields.get(name), covered, returned, reason, at)]


__all__ = ["ARCHIVE_RULE", "DELETED_FIELD", "REENTRY_RESOLVER", "bring_back"]
