"""Deletes and vendor merges: queued as jobs while reading, decided once a kind is read, by the delete policy.

A delete is a record (invariant 6): a tombstone from one connection becomes a delete job. Once every
connection of the kind has been read, the mass-delete breaker counts them; below it each is applied
by the object's policy (`propagate`, `ignore`, `archive`), unless the record was edited elsewhere
since (S13: parked by default, or `delete_wins` / `edit_wins`). A tombstone with `merged_into` is a
vendor merge (S14): links are re-pointed to the survivor instead of deleting anything, and the merged
record's counterparts elsewhere are merged by their vendor's merge where it has one (`rmerge` jobs),
else handled by the delete policy (`rdelete`, or kept as a reported duplicate; `rarchive` marks it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crmsync.connectors.base import Tombstone, can_merge
from crmsync.engine.context import SyncContext
from crmsync.engine.matching_merge import CanonicalMerge, CounterpartMerge, KnownLink, RemoteRef, plan_vendor_merge
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.reconcile_types import ConnectionState
from crmsync.engine.state import gone_from, rules_for_record, to_merged, with_gone, without_gone
from crmsync.engine.targets import target_deltas
from crmsync.model.golden import GoldenField
from crmsync.model.values import ObjectKind
from crmsync.store import AuditEntry, ConflictSide, Job, Link, NewJob, Provenance, SyncErrorReport, Transaction
from crmsync.store.tables import records

DELETED_FIELD = "@deleted"
"""The pseudo-field a delete-versus-edit conflict is parked on (S13)."""
MERGE_RESOLVER = "crmsync (vendor merge)"
"""Who closes the conflicts a vendor merge settles."""
DUPLICATE = "DUPLICATE"


def delete_kind(kind: ObjectKind) -> str:
    return f"delete:{kind}"


def merge_kind(kind: ObjectKind) -> str:
    # Merges have a job kind of their own: a held mass delete must leave plain deletes unclaimed
    # (untouched, not backed off) while merges, which delete nothing by themselves, still proceed.
    return f"merge:{kind}"


def delete_job(kind: ObjectKind, connection: str, canonical_id: str, tombstone: Tombstone) -> NewJob:
    return NewJob(
        key=f"del:{connection}/{tombstone.id}",
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
            f"({breaker.share:.0%} and {breaker.min}); nothing was deleted. Check them, then run "
            "`crmsync sync --allow-mass-delete`."
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
    canonical_id = str(payload["canonical_id"])
    object_name = ctx.object_name(connection, kind)
    # The link may have moved since the job was queued (a merge): trust the identity map now.
    current = await tx.links.canonical_id(connection, object_name, remote_id)
    if current is None:
        return
    canonical_id = current
    if payload.get("merged_into"):
        await _merge(ctx, tx, kind, connection, remote_id, str(payload["merged_into"]), outcome)
        return
    at = datetime.fromisoformat(payload["deleted_at"]) if payload.get("deleted_at") else ctx.clock()
    stored = await tx.records.get(canonical_id)
    links = await tx.links.remote_links(canonical_id)
    survivor = next((lk.remote_id for lk in links if lk.connection == connection), None)
    await tx.links.unlink(connection, object_name, remote_id)
    if survivor != remote_id or stored is None or stored.deleted:
        # A duplicate went away (its report with it), or the record is gone already: nothing to propagate.
        await _drop_duplicate_reports(tx, connection, object_name, {canonical_id}, {remote_id})
        return
    successor = next((lk.remote_id for lk in links if lk.connection == connection and lk.remote_id != remote_id), None)
    if successor is not None:
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
            name for d in target_deltas(golden, states, rules) if d.connection == connection for name in d.fields
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
        sides = [ConflictSide(connection, True, at), ConflictSide(editor.source or "golden", False, editor.at)]
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
        await tx.records.put(replace(stored, deleted=True))
        await tx.keys.release(canonical_id)
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
    provenance = {**updated.provenance, field_name: Provenance(connection, at, "archive")}
    await tx.records.put(replace(updated, record=replace(updated.record, fields=fields), provenance=provenance))
    await tx.audit.append(
        [
            AuditEntry(
                canonical_id,
                field_name,
                stored.record.fields.get(field_name),
                settings.archive_value,
                connection,
                "archive",
                at,
            )
        ]
    )
    for other in others:
        await tx.jobs.enqueue(write_job(kind, canonical_id, other))


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
        await _drop_duplicate_reports(tx, link.connection, link.object, {canonical_id}, {link.remote_id})
        job = NewJob(f"rdel:{link.connection}/{link.remote_id}", rdelete_kind(kind, link.connection), payload)
        await tx.jobs.enqueue(job)
        entry = AuditEntry(canonical_id, "@duplicate_deleted", link.remote_id, None, link.connection, "propagate", at)
        await tx.audit.append([entry])


async def _audit(tx: Transaction, canonical_id: str, connection: str, at: datetime, reason: str) -> None:
    await tx.audit.append([AuditEntry(canonical_id, DELETED_FIELD, False, True, connection, reason, at)])


async def _merge(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    merged_away: str,
    survivor: str,
    outcome: DeleteOutcome,
) -> None:
    """A vendor merge (S14): re-point links to the survivor, merge canonical records, merge counterparts.

    The merged record's counterpart in another connection is merged into the survivor's there by that
    vendor's merge where it has one, else by the delete policy (`_retire_counterpart`); not where that
    connection merged the same two records itself (its merge job, still pending, settles it there: two
    CRMs merging one pair the other way round must not each delete what the other kept). Moved links
    keep their age, and the survivor and its counterparts are put first, so the merged values go to
    the records the vendors kept and the others there are reported duplicates.
    """
    object_name = ctx.object_name(connection, kind)
    involved = {
        cid
        for cid in (
            await tx.links.canonical_id(connection, object_name, merged_away),
            await tx.links.canonical_id(connection, object_name, survivor),
        )
        if cid is not None
    }
    known = [
        KnownLink(link.canonical_id, link.connection, link.remote_id, None)
        for links in (await tx.links.links_of(sorted(involved))).values()
        for link in links
    ]
    ages = await _link_ages(tx, sorted(involved))
    known = [replace(k, linked_at=ages.get((k.connection, k.remote_id))) for k in known]
    pending = await _pending_merges(tx, kind)
    deleted = await _pending_deletes(tx, kind)
    plan = plan_vendor_merge(known, merged_away, survivor, connection, pending, deleted)
    if plan.changes_nothing or plan.canonical_id is None:
        return
    outcome.merged += 1
    kept = plan.canonical_id
    for ref in plan.unlink:
        ref_object = ctx.object_name(ref.connection, kind)
        await tx.links.unlink(ref.connection, ref_object, ref.remote_id)
        # A reported duplicate the vendor merged away is settled.
        await _drop_duplicate_reports(tx, ref.connection, ref_object, involved, {ref.remote_id})
    if plan.merge is not None:
        # Moved, not linked anew: a link's age decides which record of a connection crmsync writes to,
        # so a duplicate linked earlier in this run must not overtake the records it moves.
        await tx.links.repoint(plan.merge.retired, kept)
    else:
        for ref in plan.relink:
            await tx.links.link(Link(kept, kind, ref.connection, ctx.object_name(ref.connection, kind), ref.remote_id))
    kept_apart = {
        counterpart.connection: counterpart
        for counterpart in plan.counterparts
        if not await _retire_counterpart(ctx, tx, kind, kept, counterpart)
    }
    going = set(pending) | deleted  # their own merge or delete, still to be applied, removes them
    for ref in plan.primaries:
        await _put_first(ctx, tx, kind, kept, involved, ref, kept_apart.get(ref.connection), going)
    if plan.merge is not None:
        vendor_side = next(
            (k.canonical_id for k in known if k.connection == connection and k.remote_id == survivor), plan.merge.kept
        )
        await _merge_records(ctx, tx, kind, connection, known, vendor_side, plan.merge)
    for counterpart in kept_apart.values():
        await _keep_as_duplicate(ctx, tx, kind, connection, kept, counterpart)
    # The survivor's merged values are read again and reconciled into the kept record.
    await tx.jobs.enqueue(refetch_job(kind, connection, object_name, survivor, reason="vendor merge"))


async def _pending_merges(tx: Transaction, kind: ObjectKind) -> dict[RemoteRef, str]:
    """Merges read from any connection and not applied yet: merged-away record -> the record it went into."""
    return {
        RemoteRef(str(job.payload["connection"]), str(job.payload["remote_id"])): str(job.payload["merged_into"])
        for job in await tx.jobs.list("pending", kind=merge_kind(kind))
        if job.payload.get("merged_into")
    }


async def _pending_deletes(tx: Transaction, kind: ObjectKind) -> set[RemoteRef]:
    """Records whose deletes were read and not applied yet (a held mass delete included): gone there."""
    return {
        RemoteRef(str(job.payload["connection"]), str(job.payload["remote_id"]))
        for job in await tx.jobs.list("pending", kind=delete_kind(kind))
    }


async def _put_first(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    canonical_id: str,
    involved: set[str],
    ref: RemoteRef,
    kept_apart: CounterpartMerge | None,
    going: set[RemoteRef],
) -> None:
    """Make `ref` the record `canonical_id` is written to in its connection; report the others there.

    The others are re-linked (younger than `ref`, in their order); each is an in-system duplicate of the
    merged person, reported as such, unless its own merge or delete is still to be applied (it goes then).
    """
    object_name = ctx.object_name(ref.connection, kind)
    held = [link.remote_id for link in await tx.links.remote_links(canonical_id, ref.connection)]
    if ref.remote_id not in held:
        return
    others = [remote_id for remote_id in held if remote_id != ref.remote_id]
    if held[0] != ref.remote_id:
        await tx.links.link_many([Link(canonical_id, kind, ref.connection, object_name, r) for r in others])
    await _drop_duplicate_reports(tx, ref.connection, object_name, involved, set(held))
    for remote_id in others:
        if RemoteRef(ref.connection, remote_id) in going:
            continue
        if kept_apart is not None and remote_id == kept_apart.merged:
            continue  # reported with the reason it was kept (`_keep_as_duplicate`)
        await tx.errors.record(
            SyncErrorReport(
                connection=ref.connection,
                object=object_name,
                operation="link",
                message=(
                    f"duplicate {kind} in {ref.connection}: {remote_id} stands for the same person as "
                    f"{ref.remote_id}, which a vendor merge made the one crmsync syncs; merge them in {ref.connection}"
                ),
                canonical_id=canonical_id,
                remote_id=remote_id,
                code=DUPLICATE,
            )
        )


async def _drop_duplicate_reports(
    tx: Transaction, connection: str, object_name: str, canonical_ids: set[str], remote_ids: set[str]
) -> None:
    """Forget the duplicate reports about these records, under any of the merged canonical records."""
    for canonical_id in sorted(canonical_ids):
        for error in await tx.errors.list(connection, canonical_id):
            report = error.report
            if report.code == DUPLICATE and report.object == object_name and report.remote_id in remote_ids:
                await tx.errors.clear_id(error.id)


def rmerge_kind(kind: ObjectKind, connection: str) -> str:
    return f"rmerge:{kind}:{connection}"


def rdelete_kind(kind: ObjectKind, connection: str) -> str:
    return f"rdelete:{kind}:{connection}"


def rarchive_kind(kind: ObjectKind, connection: str) -> str:
    return f"rarchive:{kind}:{connection}"


async def _retire_counterpart(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, canonical_id: str, counterpart: CounterpartMerge
) -> bool:
    """Another connection holds both records of the merged person: queue what folds `merged` into `survivor`.

    A vendor merge is not a delete a user opted out of, so the vendor's own merge comes first wherever
    the connector has one (Dataverse `Merge`, HubSpot's merge; `counterparts` applies `rmerge` jobs).
    Elsewhere (Salesforce merges only over SOAP) the delete policy decides: `propagate` deletes the
    merged record (`rdelete`); `ignore` and `archive` keep it, and False tells the caller it stays linked,
    behind the survivor, as a reported duplicate. It must not be unlinked: a later full read would take
    it for a new person and create it everywhere again.
    """
    other = counterpart.connection
    object_name = ctx.object_name(other, kind)
    payload = {"object": object_name, "remote_id": counterpart.merged, "canonical_id": canonical_id}
    if can_merge(ctx.connectors.get(other), object_name):
        job = NewJob(
            f"rmerge:{other}/{counterpart.merged}", rmerge_kind(kind, other), {**payload, "into": counterpart.survivor}
        )
        reason = "vendor merge (merged there too)"
    elif ctx.config.object(kind).delete.kind == "propagate":
        job = NewJob(f"rdel:{other}/{counterpart.merged}", rdelete_kind(kind, other), payload)
        reason = "vendor merge (deleted there: no merge in its API)"
    else:
        return False
    await tx.links.unlink(other, object_name, counterpart.merged)
    await tx.jobs.enqueue(job)
    await tx.audit.append([_counterpart_entry(ctx, canonical_id, counterpart, reason)])
    return True


async def _keep_as_duplicate(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    source: str,
    canonical_id: str,
    counterpart: CounterpartMerge,
) -> None:
    """`ignore`/`archive` where the vendor cannot merge: the merged record stays, an in-system duplicate.

    Linked behind the survivor (`_put_first` made the survivor the record written to and read from) and
    reported like any duplicate, for a person to merge there; `archive` also marks it (`rarchive`).
    """
    other = counterpart.connection
    object_name = ctx.object_name(other, kind)
    settings = ctx.config.object(kind).delete
    await tx.errors.record(
        SyncErrorReport(
            connection=other,
            object=object_name,
            operation="link",
            message=(
                f"duplicate {kind} in {other}: {counterpart.merged} was merged in {source} into the record "
                f"{counterpart.survivor} stands for; {other} has no merge crmsync can call and the delete policy "
                f"is {settings.kind}, so {counterpart.survivor} stays the one crmsync syncs; merge them in {other}"
            ),
            canonical_id=canonical_id,
            remote_id=counterpart.merged,
            code=DUPLICATE,
        )
    )
    if settings.kind == "archive":
        payload = {"object": object_name, "remote_id": counterpart.merged, "canonical_id": canonical_id}
        await tx.jobs.enqueue(NewJob(f"rarc:{other}/{counterpart.merged}", rarchive_kind(kind, other), payload))
    reason = f"vendor merge (kept there as a duplicate: {settings.kind})"
    await tx.audit.append([_counterpart_entry(ctx, canonical_id, counterpart, reason)])


def _counterpart_entry(ctx: SyncContext, canonical_id: str, counterpart: CounterpartMerge, reason: str) -> AuditEntry:
    """The survivor's audit says what became of the person's other record in that connection, and why."""
    return AuditEntry(
        canonical_id,
        "@counterpart_merged",
        counterpart.merged,
        counterpart.survivor,
        counterpart.connection,
        reason,
        ctx.clock(),
    )


async def _merge_records(
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
    wins; fields the merging connection does not map (it could not merge them) keep a value from
    either side. Each connection's shadow must describe the remote record written to now (the kept
    record's oldest link there), which may be one the retired record held: its shadow moves with it,
    or delivery would diff against another record's values. A connection the kept record was gone
    from (a delete parked or ignored there) where the merge brings it a live record is no longer gone:
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
            await tx.shadows.delete(kept, other)  # it described another record: delivery writes every field
    await tx.shadows.delete(retired)
    await tx.keys.repoint(retired, kept)
    kept_stored = await tx.records.get(kept)
    retired_stored = await tx.records.get(retired)
    audit = [AuditEntry(retired, "@merged_into", None, kept, connection, "vendor merge", now)]
    if retired_stored is not None:
        await tx.records.put(replace(retired_stored, deleted=True))
        for conflict in await tx.conflicts.list(retired):
            await tx.conflicts.resolve(conflict.id, conflict.base, MERGE_RESOLVER)
    if kept_stored is not None and retired_stored is not None:
        winner, loser = (retired_stored, kept_stored) if vendor_side == retired else (kept_stored, retired_stored)
        merged_by_vendor = ctx.rules(kind).connection_fields.get(connection, frozenset())
        fields = dict(winner.record.fields)
        provenance = dict(winner.provenance)
        for name, value in loser.record.fields.items():
            if name not in merged_by_vendor and fields.get(name) is None and value is not None:
                fields[name] = value
                if name in loser.provenance:
                    provenance[name] = loser.provenance[name]
        before = kept_stored.record.fields
        audit += [
            AuditEntry(kept, name, before.get(name), value, connection, "vendor merge", now)
            for name, value in sorted(fields.items())
            if before.get(name) != value
        ]
        audit.append(AuditEntry(kept, "@merged_from", None, retired, connection, "vendor merge", now))
        merged = replace(kept_stored, record=replace(kept_stored.record, fields=fields), provenance=provenance)
        back = {c for c in gone_from(kept_stored) if c in written_to}
        for other in sorted(back):
            merged = without_gone(merged, other)
        await tx.records.put(merged)
        for conflict in await tx.conflicts.list(kept):
            deleted_in = {side.connection for side in conflict.sides if side.value is True}
            if conflict.field == DELETED_FIELD and deleted_in and deleted_in <= back:
                await tx.conflicts.resolve(conflict.id, False, MERGE_RESOLVER)
                audit.append(AuditEntry(kept, DELETED_FIELD, None, False, connection, "vendor merge", now))
    await tx.audit.append(audit)
    # Every connection is brought to the merged values in this run (golden − the moved shadows).
    for other in ctx.connections(kind):
        await tx.jobs.enqueue(write_job(kind, kept, other))


async def _link_ages(tx: Transaction, canonical_ids: list[str]) -> dict[tuple[str, str], datetime]:
    from crmsync.store.tables import links

    if not canonical_ids:
        return {}
    result = await tx.connection.execute(
        sa.select(links.c.connection, links.c.remote_id, links.c.created_at).where(
            links.c.canonical_id.in_(canonical_ids)
        )
    )
    return {(row.connection, row.remote_id): row.created_at for row in result}


__all__ = [
    "DELETED_FIELD",
    "DeleteOutcome",
    "delete_duplicates",
    "delete_job",
    "delete_kind",
    "merge_kind",
    "process_deletes",
    "rarchive_kind",
    "rdelete_kind",
    "rmerge_kind",
]
