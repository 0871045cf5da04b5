"""Parked waits whose parent can no longer land: ended with the reason on record, or turned to the merge survivor.

A link wait (`outbox.link_wait_job`) parks a child written to a connection without its link until the parent
lands there. A parent that was deleted (everywhere, or only in that connection: `state.GONE`) never will: the
wait ends, the child stays as it was written, and a `link` sync error on the child names the parent and why, for
`crmsync errors` and status. A parent a vendor merge retired lives on in the record it was folded into: the child's
link follows that survivor (its golden value, audited, then written everywhere), instead of waiting for a record
that is gone. A parent whose create failed is neither: it may still land (`crmsync errors retry`), so its children
wait on, named in status with the error that holds them (`views.status.blocked_waits`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from crmsync.engine.context import SyncContext
from crmsync.engine.outbox import WriteTarget, link_wait_kind, write_job
from crmsync.engine.state import gone_from, is_link_field, role_of, survivor_of
from crmsync.model.values import ObjectKind
from crmsync.store import AuditEntry, Job, Provenance, SyncErrorReport, Transaction
from crmsync.store.errors import StaleRecordError

PARENT_DELETED = "PARENT_DELETED"
"""Code of the `link` sync error on a child whose parent was deleted before it reached the child's connection."""
PARENT_GONE = "PARENT_GONE"
"""Code of the `link` sync error on a child whose parent is gone from that connection only (delete ignored there)."""
PARENT_ENDS = (PARENT_DELETED, PARENT_GONE)
"""The codes of ended link waits: settled (cleared) once the child is written there with no link left out."""
FOLLOWED = "parent merged"
"""The audit reason of a child's link moved from a merged-away parent to its survivor."""


@dataclass(frozen=True, slots=True)
class Fate:
    """Why a parent that has not landed in a connection never will: deleted, gone from there, its kind not synced
    there, or merged away."""

    why: Literal["deleted", "gone", "unsynced", "merged"]
    survivor: str | None = None  # merged: the live record it was folded into


async def parent_fates(ctx: SyncContext, tx: Transaction, parents: Sequence[str], connection: str) -> dict[str, Fate]:
    """Of `parents` (canonical ids not linked in `connection`), those that will never land there, and why."""
    stored = await tx.records.get_many(sorted(set(parents)))
    fates: dict[str, Fate] = {}
    for parent in sorted(set(parents)):
        golden = stored.get(parent)
        if golden is not None and not golden.deleted:
            if connection not in ctx.connections(golden.record.kind):
                fates[parent] = Fate("unsynced")  # its kind is not synced with that CRM (`objects.<kind>`)
            elif connection in gone_from(golden):
                fates[parent] = Fate("gone")
            continue
        survivor = await survivor_of(tx, parent)
        kept = await tx.records.get(survivor) if survivor is not None else None
        if kept is not None and not kept.deleted:
            fates[parent] = Fate("merged", kept.record.id)
        else:
            fates[parent] = Fate("deleted")
    return fates


@dataclass(frozen=True, slots=True)
class Ending:
    """A parked link wait that ends: the parents its child still names (parent -> role); none: the wait is moot."""

    job: Job
    named: Mapping[str, str]


async def waits_ending(
    ctx: SyncContext, tx: Transaction, waits: Sequence[Job], connection: str
) -> tuple[list[Ending], dict[str, Fate]]:
    """Of parked `waits` none of whose parents has landed in `connection`, those that end, and their parents' fates.

    A wait ends when each parent its child still names will never land there; one whose child names none of them any
    more (moved to another parent, the link cleared, the child deleted) is moot.
    """
    children = await tx.records.get_many(sorted({str(job.payload["canonical_id"]) for job in waits}))
    named: list[tuple[Job, dict[str, str]]] = []
    for job in waits:
        child = children.get(str(job.payload["canonical_id"]))
        owed = {str(p) for p in job.payload.get("parents", ())}
        values = child.record.fields.items() if child is not None and not child.deleted else ()
        named.append((job, {str(v): role_of(n) for n, v in values if is_link_field(n) and str(v) in owed}))
    fates = await parent_fates(ctx, tx, sorted({p for _, parents in named for p in parents}), connection)
    return [Ending(job, parents) for job, parents in named if all(p in fates for p in parents)], fates


async def end_link_waits(
    ctx: SyncContext, kind: ObjectKind, connection: str, endings: Sequence[Ending], fates: Mapping[str, Fate]
) -> int:
    """End these parked waits: moot ones simply, the others followed to a survivor or reported. How many.

    One transaction for them all; a child another process wrote meanwhile (stale) leaves them parked for the next
    delivery to look again.
    """
    if not endings:
        return 0
    object_name = ctx.object_name(connection, kind)
    counts = {"link_followed": 0, "link_ended": 0, "link_moot": 0}
    try:
        async with ctx.store.begin() as tx:
            for ending in endings:
                target = WriteTarget.from_payload(ending.job.payload)
                moved = {p: fates[p].survivor for p in ending.named if fates[p].why == "merged"}
                # A parent of a kind not synced there is no loss to report: the configuration keeps it out.
                ended = [(p, r, fates[p]) for p, r in ending.named.items() if fates[p].why in ("deleted", "gone")]
                if moved:
                    await _follow(ctx, tx, target, connection, moved)
                    counts["link_followed"] += 1
                if ended:
                    await tx.errors.record(await _ended(tx, target, connection, object_name, ended))
                    counts["link_ended"] += 1
                moot = not moved and not ended
                if moot:
                    counts["link_moot"] += 1
                if moved or moot:
                    # Its links changed (here, or by a wait of another connection or a read): written as they are.
                    await tx.jobs.enqueue(write_job(target.kind, target.canonical_id, connection))
            await tx.jobs.finish_parked(link_wait_kind(kind, connection), [e.job.key for e in endings])
    except StaleRecordError:
        return 0
    for what, n in counts.items():
        ctx.report.add(kind, connection, what, n)
    return len(endings)


async def _follow(
    ctx: SyncContext, tx: Transaction, target: WriteTarget, connection: str, moved: Mapping[str, str | None]
) -> bool:
    """Point the child's links at the survivors of its merged-away parents, audited; whether that changed them.

    Its write is queued to the wait's connection only: in the others its link was written, and the merging CRM moved
    it there itself (its next read agrees with the survivor), or it waits there too and follows in the same way.
    """
    await tx.records.lock([target.canonical_id])
    stored = await tx.records.get(target.canonical_id)
    if stored is None or stored.deleted:
        return False
    fields = dict(stored.record.fields)
    provenance = dict(stored.provenance)
    now = ctx.clock()
    entries: list[AuditEntry] = []
    for name, value in stored.record.fields.items():
        survivor = moved.get(str(value)) if is_link_field(name) and value is not None else None
        if survivor is None:
            continue
        fields[name] = survivor
        provenance[name] = Provenance(None, now, FOLLOWED)
        entries.append(AuditEntry(target.canonical_id, name, value, survivor, connection, FOLLOWED, now))
    if not entries:
        return False  # followed already (by its wait in another connection)
    await tx.records.put(replace(stored, record=replace(stored.record, fields=fields), provenance=provenance))
    await tx.audit.append(entries)
    return True


async def _ended(
    tx: Transaction,
    target: WriteTarget,
    connection: str,
    object_name: str,
    ended: Sequence[tuple[str, str, Fate]],
) -> SyncErrorReport:
    """The `link` error that says a child stays without its links to the `ended` parents in `connection`, and why."""
    why = {
        "deleted": f"was deleted, so it will never be in {connection}",
        "gone": f"was deleted in {connection} and is not created there again",
    }
    reasons = [f"{role} {parent} {why[fate.why]}" for parent, role, fate in ended]
    return SyncErrorReport(
        connection=connection,
        object=object_name,
        operation="link",
        message=(
            f"{target.kind} {target.canonical_id} is in {connection} without its link to its parent: "
            f"{'; '.join(reasons)}. Link it there by hand, or give the {target.kind} another {ended[0][1]}"
        ),
        canonical_id=target.canonical_id,
        remote_id=await tx.links.remote_id(target.canonical_id, connection),
        field=", ".join(f"@{role}" for _, role, _ in ended),
        code=PARENT_DELETED if any(fate.why == "deleted" for _, _, fate in ended) else PARENT_GONE,
    )


__all__ = [
    "FOLLOWED",
    "PARENT_DELETED",
    "PARENT_ENDS",
    "PARENT_GONE",
    "Ending",
    "Fate",
    "end_link_waits",
    "parent_fates",
    "waits_ending",
]
