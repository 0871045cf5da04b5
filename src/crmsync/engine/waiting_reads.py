"""Records read again because they waited for a parent in their own CRM (S17), once a run, or when a parent lands.

A record whose match key needs a parent not linked yet is parked (`outbox.await_job`); a record synced without a
parent the filter keeps out is read again when a parent is linked in its CRM, as that may be the one
(`orphans.relink_reads`): it then gets its link.
"""

from __future__ import annotations

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.ingest import ingest_page
from crmsync.engine.ingest_types import PageOutcome
from crmsync.engine.link_waits import READ_LINKED, parents_landed
from crmsync.engine.orphans import relink_reads
from crmsync.engine.outbox import await_kind
from crmsync.engine.report import RunReport
from crmsync.model.values import ObjectKind
from crmsync.store import Job
from crmsync.store.jobs import PARKED

REFETCH_CLAIM = 1000
"""Parked records a run claims at a time for one (kind, connection)."""


async def read_waiting(ctx: SyncContext, kind: ObjectKind, connection: str) -> int:
    """Records that waited for a parent (`outbox.await_job`), read again: once per run, not once per pass.

    A record this run read already and found waiting is not read again (`SyncContext.waiting`): its parents,
    of kinds read before it, are as linked as they will be in this run. It stays parked for the next run.
    """
    connector = ctx.connectors[connection]
    object_name = ctx.object_name(connection, kind)
    kinds = [await_kind(kind, connection)]
    if parents_landed(ctx, kind, connection, how=READ_LINKED):
        async with ctx.store.read() as view:  # most runs have none: no write transaction for nothing
            relinks = await relink_reads(ctx, view, kind, connection)
        if relinks:
            async with ctx.store.begin() as tx:
                await tx.jobs.enqueue_many(relinks)
    async with ctx.store.read() as view:  # most runs have none: no write transaction for nothing
        if not await view.jobs.any_parked(kinds):
            return 0
    async with ctx.store.begin() as tx:
        if not await tx.jobs.wake(kinds):
            return 0
    seen = 0
    jobs: list[Job] = []
    try:
        while True:
            async with ctx.store.begin() as tx:
                claimed = await tx.jobs.claim(ctx.worker, kinds, limit=REFETCH_CLAIM)
                read = [j for j in claimed if (connection, object_name, str(j.payload["remote_id"])) in ctx.waiting]
                await tx.jobs.release_many([job.id for job in read], ctx.worker, None, until=PARKED)
            jobs = [job for job in claimed if job not in read]
            if jobs:
                ids = sorted({str(job.payload["remote_id"]) for job in jobs})
                with ctx.report.timed("read"):
                    found = await connector.fetch(object_name, ids, fields=list(ctx.read_fields(connection, kind)))
                upserts = [r for r in found if isinstance(r, RemoteRecord)]
                tombstones = [t for t in found if isinstance(t, Tombstone)]
                outcome = await ingest_page(
                    ctx, kind, connection, upserts, tombstones, None, complete=[j.id for j in jobs]
                )
                count_outcome(ctx.report, kind, connection, outcome)
                seen += outcome.seen
            if len(claimed) < REFETCH_CLAIM:
                return seen
    except Exception:
        # Neither lost nor left due: what this read did not get to waits parked for the next run.
        async with ctx.store.begin() as tx:
            await tx.jobs.release_many([job.id for job in jobs], ctx.worker, None, until=PARKED)
            await tx.jobs.park(kinds)
        raise


def count_outcome(report: RunReport, kind: ObjectKind, connection: str, outcome: PageOutcome) -> None:
    """Add what a page's ingest did to the run's report."""
    report.add(kind, connection, "read", outcome.seen)
    report.add(kind, connection, "new", outcome.created)
    report.add(kind, connection, "matched", outcome.linked)
    report.add(kind, connection, "duplicates", outcome.duplicates)
    report.add(kind, connection, "changed", outcome.changed)
    report.add(kind, connection, "conflicts", outcome.conflicts)
    report.add(kind, connection, "waiting", outcome.waiting)
    report.add(kind, connection, "filtered", outcome.filtered)
    report.add(kind, connection, "keyless", outcome.keyless)
    report.add(kind, connection, "tombstones", outcome.deletes)
    report.add(kind, connection, "errors", outcome.errors)


__all__ = ["count_outcome", "read_waiting"]
