"""Vendor merges (S14): a merged-away record's links go to its survivor, and the person's records merge.

A tombstone with `merged_into` is a merge, not a delete: the links of the merged-away record are
re-pointed to the vendor's survivor, followed through the merges still pending in the same connection
(a survivor merged again before crmsync read it is not the person's record any more: the last one of
the chain is). The canonical records the two stood for merge (`merge_fold`), and the merged record's
counterparts in other connections are merged by their vendor's merge where it has one (`rmerge` jobs),
else handled by the delete policy (`rdelete`, or kept as a reported duplicate; `rarchive` marks it).
`tombstones` queues merges with deletes and applies them first. A survivor read with ids of its own
canonical record (`absorb`) takes their place there, and their errors go with them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from crmsync.connectors.base import Tombstone, can_merge
from crmsync.engine.context import SyncContext
from crmsync.engine.matching_merge import CounterpartMerge, KnownLink, RemoteRef, plan_vendor_merge
from crmsync.engine.merge_fold import merge_records
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.reentry import DELETED_FIELD
from crmsync.engine.state import MERGED_AWAY, unlink_deleted
from crmsync.model.values import ObjectKind
from crmsync.store import AuditEntry, Job, Link, NewJob, SyncErrorReport, Transaction
from crmsync.store.tables import links as links_table

DUPLICATE = "DUPLICATE"
"""The code of an in-system duplicate's report."""


def merge_kind(kind: ObjectKind) -> str:
    # Merges have a job kind of their own: a held mass delete must leave plain deletes unclaimed
    # (untouched, not backed off) while merges, which delete nothing by themselves, still proceed.
    return f"merge:{kind}"


def rmerge_kind(kind: ObjectKind, connection: str) -> str:
    return f"rmerge:{kind}:{connection}"


def rdelete_kind(kind: ObjectKind, connection: str) -> str:
    return f"rdelete:{kind}:{connection}"


def rarchive_kind(kind: ObjectKind, connection: str) -> str:
    return f"rarchive:{kind}:{connection}"


async def chained(
    tx: Transaction, kind: ObjectKind, connection: str, tombstones: Iterable[Tombstone], linked: Collection[str]
) -> set[str]:
    """Of merged-away records not `linked`, those another merge (read with them, or pending) went into.

    Such a record was a survivor, merged again before crmsync read it: its merge is a link of a chain
    and must be queued, or the merge before it would re-point the person to a record that is gone.
    Other merges of records never linked change nothing (HubSpot lists every id a survivor absorbed on
    each full read) and are not queued.
    """
    merges = [t for t in tombstones if t.merged_into]
    if not any(t.id not in linked for t in merges):
        return set()
    pending = await pending_merges(tx, kind)
    # Within a page a chain is met in any order: a merge into any merge's survivor counts.
    into = {survivor for ref, survivor in pending.items() if ref.connection == connection}
    into |= {str(t.merged_into) for t in merges}
    return {t.id for t in merges if t.id not in linked and t.id in into}


async def pending_merges(tx: Transaction, kind: ObjectKind) -> dict[RemoteRef, str]:
    """Merges read from any connection and not applied yet: merged-away record -> the record it went into."""
    return _merge_map(await tx.jobs.list("pending", kind=merge_kind(kind)))


def _merge_map(jobs: Iterable[Job]) -> dict[RemoteRef, str]:
    return {
        RemoteRef(str(job.payload["connection"]), str(job.payload["remote_id"])): str(job.payload["merged_into"])
        for job in jobs
        if job.payload.get("merged_into")
    }


def last_survivor(pending: Mapping[RemoteRef, str], connection: str, merged_away: str, survivor: str) -> str:
    """Where `merged_away` ends: its survivor, or what that was merged into since, through `connection`'s merges."""
    seen = {merged_away, survivor}
    while (into := pending.get(RemoteRef(connection, survivor))) is not None and into not in seen:
        seen.add(into)
        survivor = into
    return survivor


async def apply_merge(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    merged_away: str,
    survivor: str,
    deleted: Collection[RemoteRef],
) -> bool:
    """A vendor merge: re-point links to the survivor, merge canonical records, merge counterparts.

    The survivor is the last of a chain of merges still pending in the same connection, and those
    merging into `merged_away` go to that survivor from now on: whichever link of a chain is applied
    first, the person ends in the record the vendor kept. The merged record's counterpart in another
    connection is merged into the survivor's there by that vendor's merge where it has one, else by
    the delete policy (`_retire_counterpart`); not where that connection merged the same two records
    itself (its merge job, still pending, settles it there: two CRMs merging one pair the other way
    round must not each delete what the other kept). Moved links keep their age, and the survivor and
    its counterparts are put first (in the merging connection, the record crmsync synced there stays
    first when neither merged record was it), so the merged values go to the records the vendors kept
    and the others there are reported duplicates. `deleted` holds the records whose deletes are read
    and not applied yet. True when the merge changed the identity map.
    """
    jobs = await tx.jobs.list("pending", kind=merge_kind(kind))
    pending = _merge_map(jobs)
    # A survivor crmsync itself is about to merge away there (another CRM's merge joined its person to someone
    # else's) ends in that merge's survivor: the person merged into it goes there too, in this same pass.
    queued = {
        RemoteRef(connection, str(job.payload["remote_id"])): str(job.payload["into"])
        for job in await tx.jobs.list("pending", kind=rmerge_kind(kind, connection))
    }
    survivor = last_survivor({**queued, **pending}, connection, merged_away, survivor)
    for job in jobs:
        ref = RemoteRef(str(job.payload.get("connection")), str(job.payload.get("remote_id")))
        if ref.connection == connection and job.payload.get("merged_into") == merged_away and ref.remote_id != survivor:
            # Absorbed by the pending job (same key and kind): the chain holds whatever order jobs run in.
            await tx.jobs.enqueue(NewJob(job.key, job.kind, {**job.payload, "merged_into": survivor}))
            pending[ref] = survivor
    object_name = ctx.object_name(connection, kind)
    away_id = await tx.links.canonical_id(connection, object_name, merged_away)
    if away_id is None:
        return False  # never linked: nothing to re-point (a link of a chain was forwarded above)
    survivor_id = await tx.links.canonical_id(connection, object_name, survivor)
    involved = {away_id} if survivor_id is None else {away_id, survivor_id}
    known = [
        KnownLink(link.canonical_id, link.connection, link.remote_id, None)
        for links in (await tx.links.links_of(sorted(involved))).values()
        for link in links
    ]
    ages = await _link_ages(tx, sorted(involved))
    known = [replace(k, linked_at=ages.get((k.connection, k.remote_id))) for k in known]
    plan = plan_vendor_merge(known, merged_away, survivor, connection, pending, deleted)
    if plan.changes_nothing or plan.canonical_id is None:
        return False
    kept = plan.canonical_id
    refused = {ref.connection for ref in plan.unlink if await refused_writes(tx, ref.connection, kept, [ref.remote_id])}
    for ref in plan.unlink:
        ref_object = ctx.object_name(ref.connection, kind)
        # The audit keeps the id, so `crmsync explain` given it finds the person it was merged into.
        await unlink_deleted(tx, kept, ref.connection, ref_object, ref.remote_id, ctx.clock(), MERGED_AWAY)
        # Merged away: its errors (a duplicate's report, what its reads met) are settled.
        await tx.errors.clear_remote(ref.connection, ref_object, [ref.remote_id])
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
    going = set(pending) | set(deleted)  # their own merge or delete, still to be applied, removes them
    for ref in plan.primaries:
        await _put_first(ctx, tx, kind, kept, involved, ref, kept_apart.get(ref.connection), going)
    if all(ref.connection != connection for ref in plan.primaries):
        # Neither merged record was the one crmsync syncs here: that one stays first, and what the merge joined
        # to it (the other person's records here, or a survivor never linked) are duplicates to report.
        held = await tx.links.remote_links(kept, connection)
        if len(held) > 1:
            await _put_first(ctx, tx, kind, kept, involved, RemoteRef(connection, held[0].remote_id), None, going)
    if plan.merge is not None:
        vendor_side = next(
            (k.canonical_id for k in known if k.connection == connection and k.remote_id == survivor), plan.merge.kept
        )
        await merge_records(ctx, tx, kind, connection, known, vendor_side, plan.merge)
    for counterpart in kept_apart.values():
        await _keep_as_duplicate(ctx, tx, kind, connection, kept, counterpart)
    await _settle_errors(tx, kept, involved)
    for other in sorted(refused):
        if await tx.links.remote_links(kept, other):  # never a create: the merge left it a record there
            await tx.jobs.enqueue(write_job(kind, kept, other))
    # The survivor's merged values are read again and reconciled into the kept record.
    await tx.jobs.enqueue(refetch_job(kind, connection, object_name, survivor, reason="vendor merge"))
    return True


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
    await drop_duplicate_reports(tx, ref.connection, object_name, involved, set(held))
    for remote_id in others:
        if RemoteRef(ref.connection, remote_id) in going:
            continue
        if kept_apart is not None and remote_id == kept_apart.merged:
            continue  # reported with the reason it was kept (`_keep_as_duplicate`)
        await report_duplicate(
            tx,
            ref.connection,
            object_name,
            canonical_id,
            remote_id,
            f"duplicate {kind} in {ref.connection}: {remote_id} stands for the same person as "
            f"{ref.remote_id} since a vendor merge, and {ref.remote_id} is the one crmsync syncs; "
            f"merge them in {ref.connection}",
        )


async def absorb(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    canonical_id: str,
    survivor: str,
    absorbed: Collection[str],
) -> None:
    """A survivor read with ids it absorbed that stood for its own canonical record: they go, it takes their place.

    The absorbed records are gone, so their links and DUPLICATE reports go too (a stale report asks a person
    to merge records that no longer exist). Where one of them was the record crmsync syncs in `connection`,
    the survivor becomes it (the vendor kept it for the person) and the others there stay reported; else
    the synced record stays first and a survivor with a new id (HubSpot) is a duplicate to report.
    """
    object_name = ctx.object_name(connection, kind)
    held = [link.remote_id for link in await tx.links.remote_links(canonical_id, connection)]
    gone = [remote_id for remote_id in held if remote_id in absorbed and remote_id != survivor]
    if not gone:
        if survivor not in held:
            await tx.links.link(Link(canonical_id, kind, connection, object_name, survivor))
        return
    for remote_id in gone:
        await unlink_deleted(tx, canonical_id, connection, object_name, remote_id, ctx.clock(), MERGED_AWAY)
    refused = await refused_writes(tx, connection, canonical_id, gone)
    await tx.errors.clear_remote(connection, object_name, gone)
    if refused:  # the survivor, linked below, stands for the person there now
        await tx.jobs.enqueue(write_job(kind, canonical_id, connection))
    rest = [remote_id for remote_id in held if remote_id not in gone]
    was_first = held[0] in gone
    if survivor not in rest:
        # A new id: linked in one batch with the records it goes before, so its place does not hang on a clock tie.
        ahead = [survivor, *(r for r in rest if was_first)]
        await tx.links.link_many([Link(canonical_id, kind, connection, object_name, r) for r in ahead])
        if not was_first and rest:
            await report_duplicate(
                tx,
                connection,
                object_name,
                canonical_id,
                survivor,
                f"duplicate {kind} in {connection}: {survivor} stands for the same person as {rest[0]} since "
                f"a vendor merge of {', '.join(gone)}, and {rest[0]} is the one crmsync syncs; "
                f"merge them in {connection}",
            )
            return
    if was_first:
        await _put_first(ctx, tx, kind, canonical_id, {canonical_id}, RemoteRef(connection, survivor), None, set())


async def refused_writes(
    tx: Transaction, connection: str, canonical_id: str, remote_ids: Collection[str] | None = None
) -> bool:
    """Whether a create or update of `canonical_id` in `connection` (to one of `remote_ids`, if given) stands refused.

    Asked before the errors of a record leaving its CRM (merged away, deleted) are cleared: the record that
    stands for the person there afterwards is read back with the values crmsync last saw, so no change would
    write the refused values again. The caller queues the write, and its outcome files the error anew.
    """
    return any(
        error.report.operation in ("create", "update") and (remote_ids is None or error.report.remote_id in remote_ids)
        for error in await tx.errors.about(canonical_id, [])
        if error.report.connection == connection
    )


async def _settle_errors(tx: Transaction, kept: str, involved: set[str]) -> None:
    """The merged records' errors as if the kept record had always held the person's records.

    DUPLICATE reports name the kept record, and none names a record crmsync syncs. A read error stays where
    its record is the one crmsync syncs in its CRM, filed under the kept record, and goes where its record
    is a duplicate now (a duplicate's values are not read; nothing would settle it). The retired record's
    create and update errors go: its values are written nowhere any more. An error left under the retired
    canonical id is missed by whatever settles the kept record's errors later (its next read, a delete
    handing the person to the next duplicate).
    """
    first: dict[str, str] = {}
    for link in await tx.links.remote_links(kept):  # oldest first
        first.setdefault(link.connection, link.remote_id)
    moved: list[int] = []
    for canonical_id in sorted(involved):
        for error in await tx.errors.list(None, canonical_id):
            report = error.report
            synced = report.remote_id is not None and first.get(report.connection) == report.remote_id
            if report.code == DUPLICATE:
                if synced:
                    await tx.errors.clear_id(error.id)
                elif canonical_id != kept:
                    await tx.errors.clear_id(error.id)
                    await tx.errors.record(replace(report, canonical_id=kept))
            elif report.operation == "read":
                if not synced:
                    await tx.errors.clear_id(error.id)
                elif canonical_id != kept:
                    moved.append(error.id)
        if canonical_id != kept:
            await tx.errors.clear_writes(canonical_id)
    await tx.errors.move(moved, kept)


async def report_duplicate(
    tx: Transaction, connection: str, object_name: str, canonical_id: str, remote_id: str, message: str
) -> None:
    """Report `remote_id` as an in-system duplicate, linked behind the record `canonical_id` syncs in `connection`."""
    await tx.errors.record(
        SyncErrorReport(
            connection=connection,
            object=object_name,
            operation="link",
            message=message,
            canonical_id=canonical_id,
            remote_id=remote_id,
            code=DUPLICATE,
        )
    )


async def drop_duplicate_reports(
    tx: Transaction, connection: str, object_name: str, canonical_ids: set[str], remote_ids: set[str]
) -> None:
    """Forget the duplicate reports about these records, under any of the merged canonical records."""
    for canonical_id in sorted(canonical_ids):
        for error in await tx.errors.list(connection, canonical_id):
            report = error.report
            if report.code == DUPLICATE and report.object == object_name and report.remote_id in remote_ids:
                await tx.errors.clear_id(error.id)


async def _retire_counterpart(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, canonical_id: str, counterpart: CounterpartMerge
) -> bool:
    """Another connection holds both records of the merged person: queue what folds `merged` into `survivor`.

    A vendor merge is not a delete a user opted out of, so the vendor's own merge comes first wherever
    the connector has one (Dataverse `Merge`, HubSpot's merge, Salesforce's SOAP `merge()`; `counterparts`
    applies `rmerge` jobs). Elsewhere (deals in Salesforce and Dataverse, or a Salesforce connection with
    `merges: false`) the delete policy decides: `propagate` deletes the
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
    await unlink_deleted(tx, canonical_id, other, object_name, counterpart.merged, ctx.clock(), MERGED_AWAY)
    await tx.errors.clear_remote(other, object_name, [counterpart.merged])
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
    await report_duplicate(
        tx,
        other,
        object_name,
        canonical_id,
        counterpart.merged,
        f"duplicate {kind} in {other}: {counterpart.merged} was merged in {source} into the record "
        f"{counterpart.survivor} stands for; {other} has no merge crmsync can call and the delete policy "
        f"is {settings.kind}, so {counterpart.survivor} stays the one crmsync syncs; merge them in {other}",
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


async def _link_ages(tx: Transaction, canonical_ids: list[str]) -> dict[tuple[str, str], datetime]:
    if not canonical_ids:
        return {}
    result = await tx.connection.execute(
        sa.select(links_table.c.connection, links_table.c.remote_id, links_table.c.created_at).where(
            links_table.c.canonical_id.in_(canonical_ids)
        )
    )
    return {(row.connection, row.remote_id): row.created_at for row in result}


__all__ = [
    "DELETED_FIELD",
    "DUPLICATE",
    "absorb",
    "apply_merge",
    "chained",
    "drop_duplicate_reports",
    "last_survivor",
    "merge_kind",
    "pending_merges",
    "rarchive_kind",
    "rdelete_kind",
    "refused_writes",
    "rmerge_kind",
]
