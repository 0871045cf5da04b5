"""Fold the canonical record a vendor merge retired into the one it kept: values, shadows, keys and audit."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace

from crmsync.engine.context import SyncContext
from crmsync.engine.matching_merge import CanonicalMerge, KnownLink
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.reentry import DELETED_FIELD, bring_back
from crmsync.engine.state import MERGED_FROM_FIELD, MERGED_INTO_FIELD
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Provenance, Transaction
from crmsync.store import GoldenRecord as StoredGolden

MERGE_RESOLVER = "crmsync (vendor merge)"
"""Who closes the conflicts a vendor merge settles."""


async def merge_records(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    known: list[KnownLink],
    vendor_side: str,
    merge: CanonicalMerge,
) -> None:
    """Fold the retired canonical record into the kept one, after the links were re-pointed.

    The vendor's survivor carries the merged values, so the golden record of the side it stood for
    wins; its blanks take a value of the other side the vendor could not merge (`_merged_values`). Each
    connection's shadow must describe the remote record written to now (the kept record's oldest link
    there), which may be one the retired record held: its shadow moves with it, or delivery would diff
    against another record's values. A connection the kept record was gone from (a delete parked or
    ignored there) where the merge brings it a live record is no longer gone (`reentry.bring_back`):
    that record is the person's now, and a parked delete of the other one is settled by the merge.
    """
    kept, retired = merge.kept, merge.retired
    now = ctx.clock()
    owner = {(k.connection, k.remote_id): k.canonical_id for k in known}
    kept_shadows = await tx.shadows.get_all(kept)
    retired_shadows = await tx.shadows.get_all(retired)
    written_to: dict[str, str] = {}
    for link in await tx.links.remote_links(kept):  # oldest first
        written_to.setdefault(link.connection, link.remote_id)
    for other, remote_id in sorted(written_to.items()):
        if owner.get((other, remote_id), kept) != retired:
            continue
        if other in retired_shadows:
            await tx.shadows.put(replace(retired_shadows[other], canonical_id=kept))
        elif other in kept_shadows:
            # It described another record: the one written to now is read (delivery waits for that read, as for
            # any record linked but never read), so what it holds meets the person's like a record met first.
            await tx.shadows.delete(kept, other)
            object_name = ctx.object_name(other, kind)
            await tx.jobs.enqueue(refetch_job(kind, other, object_name, remote_id, reason="vendor merge"))
    await tx.shadows.delete(retired)
    await tx.keys.repoint(retired, kept)
    kept_stored = await tx.records.get(kept)
    retired_stored = await tx.records.get(retired)
    audit = [AuditEntry(retired, MERGED_INTO_FIELD, None, kept, connection, "vendor merge", now)]
    if retired_stored is not None:
        await tx.records.put(replace(retired_stored, deleted=True))
        await _move_conflicts(tx, retired, kept)
    if kept_stored is not None and retired_stored is not None:
        winner, loser = (retired_stored, kept_stored) if vendor_side == retired else (kept_stored, retired_stored)
        held = (kept_shadows if loser is kept_stored else retired_shadows).get(connection)
        fields, provenance = _merged_values(
            winner,
            loser,
            ctx.rules(kind).connection_fields.get(connection, frozenset()),
            held.fields if held is not None else {},
        )
        before = kept_stored.record.fields
        audit += [
            AuditEntry(kept, name, before.get(name), fields.get(name), connection, "vendor merge", now)
            for name in sorted({*fields, *before})
            if before.get(name) != fields.get(name)
        ]
        audit.append(AuditEntry(kept, MERGED_FROM_FIELD, None, retired, connection, "vendor merge", now))
        merged = replace(kept_stored, record=replace(kept_stored.record, fields=fields), provenance=provenance)
        merged, returned = await bring_back(
            tx,
            merged,
            written_to,
            reason="vendor merge",
            resolver=MERGE_RESOLVER,
            at=now,
            delete=ctx.config.object(kind).delete,
        )
        audit += returned
        await tx.records.put(merged)
    await tx.audit.append(audit)
    # Every connection is brought to the merged values in this run (golden − the moved shadows).
    for other in ctx.connections(kind):
        await tx.jobs.enqueue(write_job(kind, kept, other))


async def _move_conflicts(tx: Transaction, retired: str, kept: str) -> None:
    """The retired record's open field conflicts go on with the kept record: a merge in one CRM settles no dispute
    between others, and closing them let delivery overwrite the copies a person was yet to choose between. A
    field the kept record has a conflict on already takes the sides it lacks into that one. A parked delete of
    the retired record is settled by the merge (the person lives on in the kept record)."""
    open_on_kept = {c.field: c for c in await tx.conflicts.list(kept)}
    for conflict in await tx.conflicts.list(retired):
        if conflict.field == DELETED_FIELD:
            await tx.conflicts.resolve(conflict.id, conflict.base, MERGE_RESOLVER)
            continue
        there = open_on_kept.get(conflict.field)
        if there is None:
            await tx.conflicts.repoint(conflict.id, kept)
            continue
        held = {side.connection for side in there.sides}
        sides = [*there.sides, *(side for side in conflict.sides if side.connection not in held)]
        await tx.conflicts.park(kept, conflict.field, there.base, sides, has_base=there.has_base)
        await tx.conflicts.resolve(conflict.id, conflict.base, MERGE_RESOLVER)


def _merged_values(
    winner: StoredGolden, loser: StoredGolden, merged_by_vendor: Collection[str], loser_held: Mapping[str, object]
) -> tuple[dict[str, CanonicalValue], dict[str, Provenance]]:
    """The folded record's values: the winner's, its blanks filled from the loser where the vendor could not
    have merged the loser's value: a field it does not map, or a value its record of the loser never held (an
    edit made elsewhere and not delivered there yet, or a write it refused). A blank the vendor's merge chose
    over a value it held stays blank."""
    fields = dict(winner.record.fields)
    provenance = dict(winner.provenance)
    for name, value in loser.record.fields.items():
        if fields.get(name) is not None or value is None:
            continue
        if name not in merged_by_vendor or loser_held.get(name) != value:
            fields[name] = value
            if name in loser.provenance:
                provenance[name] = loser.provenance[name]
    return fields, provenance


__all__ = ["MERGE_RESOLVER", "merge_records"]
