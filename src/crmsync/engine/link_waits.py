"""Links that wait for a parent to land in a target: written once it has, without a change to the child (S17).

A child written to a connection where a parent of it is not yet (its create failed there, or has not run) goes
without that link, and `settle` parks a `link_wait_job` naming the parents it left out. The child itself does not
change when the parent lands, so no reconcile queues its write again: the delivery of the child's kind to that
connection first turns each parked job whose parents are now linked there into the child's write job, and the
write, planned from the golden record and the shadow as always, carries the link (parents are delivered before
their children, so in the run the parent lands in). A wait whose parents are all still missing stays parked,
and costs no write, nor a read of the child; one whose parents never will land ends (`parked_ends`).
"""

from __future__ import annotations

from crmsync.engine.context import SyncContext
from crmsync.engine.outbox import WriteTarget, link_wait_kind, write_job
from crmsync.engine.parked_ends import end_link_waits, waits_ending
from crmsync.engine.state import LINK_ROLES, parent_kind
from crmsync.model.values import ObjectKind

READ_LINKED = ("new", "matched")
"""What a run counts of records linked in a connection by reading them there."""
LANDED = (*READ_LINKED, "created")
"""What a run counts of records newly linked in a connection: read there (new or matched) or created there."""


def parents_landed(
    ctx: SyncContext, kind: ObjectKind, connection: str | None = None, *, how: tuple[str, ...] = LANDED
) -> bool:
    """Whether this run linked records of a kind `kind` links to, in `connection` (or any), in one of the `how` ways.

    Links owed to a parent wait for one read or created there (`LANDED`); records read waiting for a parent in their
    own CRM, for one read there (`READ_LINKED`, `SyncRunner._read_waiting`).
    """
    parents = {parent_kind(role) for role in LINK_ROLES[kind]}
    return any(
        n
        for (of, where, what), n in ctx.report.counts.items()
        if of in parents and what in how and connection in (None, where)
    )


async def wake_link_waits(ctx: SyncContext, kind: ObjectKind, connection: str) -> int:
    """Queue the write of each record of `kind` parked for a link whose parent is now linked in `connection`.

    In one transaction: the write job is queued (a pending write of the record absorbs it) as the parked job is
    finished, so a crash between the two loses neither. How many were woken.
    """
    parked_kind = link_wait_kind(kind, connection)
    # Looked at in a read: most deliveries find nothing parked, or nothing ready, and take no write transaction.
    async with ctx.store.read() as view:
        if not await view.jobs.any_parked([parked_kind]):
            return 0
        parked = await view.jobs.list("pending", kind=parked_kind)
        wanted = sorted({str(parent) for job in parked for parent in job.payload.get("parents", ())})
        kinds = {parent_kind(role) for role in LINK_ROLES[kind]}
        held = await view.links.links_of(wanted, connection)
        landed = {parent for parent, found in held.items() if any(link.kind in kinds for link in found)}
        waiting = [job for job in parked if not landed.intersection(job.payload.get("parents", ()))]
        # Parents that will never land here (deleted, gone from here, merged away): their waits end below.
        ending, fates = await waits_ending(ctx, view, waiting, connection) if waiting else ([], {})
    await end_link_waits(ctx, kind, connection, ending, fates)
    ready = [job for job in parked if landed.intersection(job.payload.get("parents", ()))]
    if not ready:
        return 0
    targets = [WriteTarget.from_payload(job.payload) for job in ready]
    async with ctx.store.begin() as tx:
        # A wait another process finished meanwhile is not finished twice; its record's write, queued again, is
        # absorbed by a pending one or plans to nothing.
        await tx.jobs.enqueue_many([write_job(t.kind, t.canonical_id, t.connection) for t in targets])
        await tx.jobs.finish_parked(parked_kind, [job.key for job in ready])
    ctx.report.add(kind, connection, "link_woken", len(ready))
    return len(ready)


__all__ = ["LANDED", "READ_LINKED", "parents_landed", "wake_link_waits"]
