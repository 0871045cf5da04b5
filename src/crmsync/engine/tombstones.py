"""Deletes: queued as jobs while reading, decided once a kind is read, by the delete policy.

A delete is a record (invariant 6): a tombstone from one connection becomes a delete job. Once every
connection of the kind has been read, the mass-delete breaker counts them; below it each is applied
by the object's policy (`propagate`, `ignore`, `archive`), unless the record was edited elsewhere
since (S13: parked by default, or `delete_wins` / `edit_wins`). A tombstone with `merged_into` is a
vendor merge (S14): queued the same way, under a job kind of its own, and applied first, by `merges`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.matching_merge import RemoteRef
from crmsync.engine.merges import (
    DELETED_FIELD,
    apply_merge,
    merge_kind,
    rarchive_kind,
    rdelete_kind,
    refused_writes,
    rmerge_kind,
)
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.reconcile_types import ConnectionState
from crmsync.engine.reentry import ARCHIVE_RULE
from crmsync.engine.state import DELETED_THERE, rules_for_record, to_merged, unlink_deleted, with_gone
from crmsync.engine.targets import target_deltas
from crmsync.model.golden import GoldenField
from crmsync.model.values import ObjectKind
from crmsync.store import AuditEntry, ConflictSide, Job, Link, NewJob, Provenance, Transaction
from crmsync.store import GoldenRecord as StoredGolden
from crmsync.store.tables import records

DELETE_RESOLVER = "crmsync (deleted everywhere)"
"""Who closes the open conflicts of a record whose delete propagated."""


def delete_kind(kind: ObjectKind) -> str:
    return f"delete:{kind}"


def delete_job_key(connection: str, remote_id: str) -> str:
    """The key of the job a tombstone of `remote_id` becomes: one per deleted record, however often it is read."""
    return f"del:{connection}/{remote_id}"


def delete_job(kind: ObjectKind, connection: str, canonical_id: str | None, tombstone: Tombstone) -> NewJob:
    """The job a tombstone becomes (None: a merge of a record never linked, a link of a chain of merges)."""
    return NewJob(
        key=delete_job_key(connection, tombstone.id),
        kind=merge_kind(kind) if tombstone.merged_into else delete_kind(kind),
        payload={
            "kind": kind,
            "connection": connection,
            "canonical_id": canonical_id,
            "remote_id": tombstone.id,
            "merged_into": tombstone.merged_into,
            "deleted_at": tombstone.deleted_at.isoformat() if tombstone.deleted_at else None,
        },
    )


@dataclass
class DeleteOutcome:
    pending: int = 0
    held: bool = False
    propagated: int = 0
    ignored: int = 0
    archived: int = 0
    parked: int = 0
    recreated: int = 0
    merged: int = 0


async def process_deletes(ctx: SyncContext, kind: ObjectKind, *, allow_mass_delete: bool) -> DeleteOutcome:
    """Apply the kind's queued merges, then its deletes unless the mass-delete breaker trips."""
    outcome = DeleteOutcome()
    async with ctx.store.read() as tx:
        pending = await tx.jobs.list("pending", kind=delete_kind(kind))
        total = await _live_records(tx, kind)
    await _drain(ctx, kind, merge_kind(kind), outcome)
    plain = [j for j in pending if not j.payload.get("merged_into")]
    outcome.pending = len(plain)
    breaker = ctx.config.object(kind).delete.mass_delete
    if plain and breaker.trips(len(plain), total) and not allow_mass_delete:
        outcome.held = True
        ctx.report.note(
            f"ALERT {kind}: {len(plain)} deletes of {total} records exceed the mass-delete breaker "
            f"({breaker.describe()}); nothing was deleted. Check them, then run "
            "`crmsync sync --allow-mass-delete`.",
            alert=True,
        )
        return outcome  # the deletes stay queued as they are, for an approved run
    await _drain(ctx, kind, delete_kind(kind), outcome)
    return outcome


async def _drain(ctx: SyncContext, kind: ObjectKind, job_kind: str, outcome: DeleteOutcome) -> None:
    """Claim and apply jobs of one kind one at a time, each in its own transaction."""
    while True:
        async with ctx.store.begin() as tx:
            claimed = await tx.jobs.claim(ctx.worker, [job_kind], limit=1)
            if not claimed:
                return
            (mine,) = claimed
            await _apply(ctx, tx, kind, mine, outcome)
            await tx.jobs.complete(mine.id, ctx.worker)


async def _live_records(tx: Transaction, kind: ObjectKind) -> int:
    query = sa.select(sa.func.count()).select_from(records).where(records.c.kind == kind, records.c.deleted.is_(False))
    return int((await tx.connection.execute(query)).scalar_one())


async def _apply(ctx: SyncContext, tx: Transaction, kind: ObjectKind, job: Job, outcome: DeleteOutcome) -> None:
    payload: dict[str, Any] = dict(job.payload)
    connection = str(payload["connection"])
    remote_id = str(payload["remote_id"])
    if payload.get("merged_into"):
        deleted = await _pending_deletes(tx, kind)
        if await apply_merge(ctx, tx, kind, connection, remote_id, str(payload["merged_into"]), deleted):
            outcome.merged += 1
        return
    object_name = ctx.object_name(connection, kind)
    # The link may have moved since the job was queued (a merge): trust the identity map now.
    canonical_id = await tx.links.canonical_id(connection, object_name, remote_id)
    # Asked before the errors go: a write refused there is tried on the duplicate that takes over, if one does.
    refused = canonical_id is not None and await refused_writes(tx, connection, canonical_id)
    # Whatever reading or writing the record met is moot: it is gone from its CRM.
    await tx.errors.clear_remote(connection, object_name, [remote_id])
    if canonical_id is None:
        return
    at = datetime.fromisoformat(payload["deleted_at"]) if payload.get("deleted_at") else ctx.clock()
    stored = await tx.records.get(canonical_id)
    links = await tx.links.remote_links(canonical_id)
    survivor = next((lk.remote_id for lk in links if lk.connection == connection), None)
    await unlink_deleted(tx, canonical_id, connection, object_name, remote_id, at, DELETED_THERE)
    if survivor != remote_id or stored is None or stored.deleted:
        return  # a duplicate went away (its report with it), or the record is gone already: nothing to propagate
    # The record crmsync wrote to there is gone: the canonical record's writes to it are moot too.
    await tx.errors.clear_record(connection, object_name, canonical_id)
    successor = next((lk.remote_id for lk in links if lk.connection == connection and lk.remote_id != remote_id), None)
    if successor is not None:
        if refused:  # tried on the successor instead: it is read back with the values crmsync last saw here
            await tx.jobs.enqueue(write_job(kind, canonical_id, connection))
        # The survivor of an in-system duplicate group went; the person still has a record there: the next
        # duplicate takes over instead of the person being deleted everywhere. The old shadow stands for it
        # until its own values are read (queued here), so nothing is created twice in the meantime.
        await tx.errors.clear(connection, object_name, canonical_id=canonical_id, remote_id=successor)
        await tx.jobs.enqueue(refetch_job(kind, connection, object_name, successor, reason="duplicate takes over"))
        entry = AuditEntry(canonical_id, "@survivor", remote_id, successor, connection, "duplicate took over", at)
        await tx.audit.append([entry])
        return
    shadows = await tx.shadows.get_all(canonical_id)
    shadow = shadows.get(connection)
    if shadow is None:
        # Linked here but never read (a record the filter kept out, linked to its twin and gone before its read):
        # crmsync never synced it, so its delete is not the person's. The person is written here as if never met.
        await tx.jobs.enqueue(write_job(kind, canonical_id, connection))
        return
    await tx.shadows.delete(canonical_id, connection)
    settings = ctx.config.object(kind).delete
    rules = rules_for_record(ctx.rules(kind), stored)
    golden = to_merged(stored)
    assert golden is not None
    # Delete versus edit (S13): the deleted copy was behind the golden record (an edit elsewhere it never got).
    missed: frozenset[str] = frozenset()
    if shadow is not None:
        states = [ConnectionState(connection, shadow=dict(shadow.fields))]
        missed = frozenset(
            name
            for d in target_deltas(stored.record.fields, states, rules)
            if d.connection == connection
            for name in d.fields
        )
    edited = bool(missed)
    others = sorted({lk.connection for lk in links if lk.connection != connection})
    policy = settings.kind
    if edited and settings.on_edit == "park":
        outcome.parked += 1
        # The editor is whoever made the latest of the changes the deleted copy missed; the record's
        # other fields say nothing (vendors' clocks differ, so an older field can carry a later stamp).
        editor = max(
            (f for name, f in golden.fields.items() if name in missed and f.source not in (None, connection)),
            key=lambda f: f.at.timestamp() if f.at else 0.0,
            default=GoldenField(None),
        )
        # Deleted in several CRMs before anyone decided: each delete stays a side of the one decision, or
        # keeping the record would bring it back in the last of them only.
        parked = [c for c in await tx.conflicts.list(canonical_id) if c.field == DELETED_FIELD]
        earlier = [s for c in parked for s in c.sides if s.value is True and s.connection != connection]
        kept_by = ConflictSide(editor.source or "golden", False, editor.at)
        sides = [*earlier, ConflictSide(connection, True, at), kept_by]
        await tx.conflicts.park(canonical_id, DELETED_FIELD, False, sides)
        await tx.records.put(with_gone(stored, connection))
        return
    if edited and settings.on_edit == "edit_wins":
        outcome.recreated += 1  # no shadow and no link: the next delivery creates it again and relinks
        await tx.jobs.enqueue(write_job(kind, canonical_id, connection))
        await _audit(tx, canonical_id, connection, at, "edit_wins (recreated)")
        return
    if policy == "propagate":
        outcome.propagated += 1
        await delete_everywhere(tx, stored)
        for other in others:
            await tx.jobs.enqueue(write_job(kind, canonical_id, other))
        await delete_duplicates(tx, kind, canonical_id, [lk for lk in links if lk.connection != connection], at)
        await _audit(tx, canonical_id, connection, at, "delete_wins" if edited else "propagate")
        return
    if policy == "ignore":
        outcome.ignored += 1
        await tx.records.put(with_gone(stored, connection))
        await _audit(tx, canonical_id, connection, at, "ignore")
        return
    outcome.archived += 1
    field_name = settings.archive_field
    assert field_name is not None  # the config requires it for `archive`
    updated = with_gone(stored, connection)
    fields = {**updated.record.fields, field_name: settings.archive_value}
    provenance = {**updated.provenance, field_name: Provenance(connection, at, ARCHIVE_RULE)}
    await tx.records.put(replace(updated, record=replace(updated.record, fields=fields), provenance=provenance))
    await tx.audit.append(
        [
            AuditEntry(
                canonical_id,
                field_name,
                stored.record.fields.get(field_name),
                settings.archive_value,
                connection,
                ARCHIVE_RULE,
                at,
            )
        ]
    )
    for other in others:
        await tx.jobs.enqueue(write_job(kind, canonical_id, other))


async def delete_everywhere(tx: Transaction, stored: StoredGolden, *, leave: int | None = None) -> StoredGolden:
    """Mark a record deleted everywhere (the caller queues the deletes): its match keys are free for a new
    person, nothing creates or updates it any more, nor asks anyone to choose one of its values. Its create
    and update errors go, and its open conflicts close (but `leave`, closed by the caller)."""
    canonical_id = stored.record.id
    saved = await tx.records.put(replace(stored, deleted=True))
    await tx.keys.release(canonical_id)
    await tx.errors.clear_writes(canonical_id)
    for conflict in await tx.conflicts.list(canonical_id):
        if conflict.id != leave:
            await tx.conflicts.resolve(conflict.id, stored.record.fields.get(conflict.field), DELETE_RESOLVER)
    return saved


async def delete_duplicates(
    tx: Transaction, kind: ObjectKind, canonical_id: str, links: list[Link], at: datetime
) -> None:
    """A delete spread to other connections reaches every record of the person there, duplicates too.

    Delivery deletes the record each connection is written to; the others (reported duplicates, oldest
    link first in `links`, the record's links in the connections the delete goes to) get `rdelete`
    jobs, or they would stay live, linked to a deleted record and never synced again. They are unlinked
    now, like any record crmsync deletes.
    """
    first: set[str] = set()
    for link in links:
        if link.connection not in first:
            first.add(link.connection)
            continue
        payload = {"object": link.object, "remote_id": link.remote_id, "canonical_id": canonical_id}
        await tx.links.unlink(link.connection, link.object, link.remote_id)
        await tx.errors.clear_remote(link.connection, link.object, [link.remote_id])
        job = NewJob(f"rdel:{link.connection}/{link.remote_id}", rdelete_kind(kind, link.connection), payload)
        await tx.jobs.enqueue(job)
        entry = AuditEntry(canonical_id, "@duplicate_deleted", link.remote_id, None, link.connection, "propagate", at)
        await tx.audit.append([entry])


async def _audit(tx: Transaction, canonical_id: str, connection: str, at: datetime, reason: str) -> None:
    await tx.audit.append([AuditEntry(canonical_id, DELETED_FIELD, False, True, connection, reason, at)])


async def _pending_deletes(tx: Transaction, kind: ObjectKind) -> set[RemoteRef]:
    """Records whose deletes were read and not applied yet (a held mass delete included): gone there."""
    return {
        RemoteRef(str(job.payload["connection"]), str(job.payload["remote_id"]))
        for job in await tx.jobs.list("pending", kind=delete_kind(kind))
    }


__all__ = [
    "DELETED_FIELD",
    "DELETE_RESOLVER",
    "DeleteOutcome",
    "delete_duplicates",
    "delete_everywhere",
    "delete_job",
    "delete_job_key",
    "delete_kind",
    "merge_kind",
    "process_deletes",
    "rarchive_kind",
    "rdelete_kind",
    "rmerge_kind",
]
