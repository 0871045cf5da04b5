"""Applies what a vendor merge queued for the merged record's counterparts in the other connections (S14).

`merges.apply_merge` decides, in the transaction that re-points the links: `rmerge` jobs fold the
counterpart into the survivor's with that vendor's own merge, `rdelete` jobs delete it where the vendor
has no merge crmsync can call (delete policy `propagate`), `rarchive` jobs mark one kept as a duplicate
(policy `archive`). They run after the connection's outbox, so the survivor already has the merged values.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmsync.connectors.base import WriteOp, WriteResult
from crmsync.engine.call_failures import call_failure, connection_down
from crmsync.engine.context import SyncContext
from crmsync.engine.merges import absorb
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.report import PlannedWrite
from crmsync.engine.state import MERGED_INTO_FIELD
from crmsync.engine.tombstones import rarchive_kind, rdelete_kind, rmerge_kind
from crmsync.errors import CrmSyncError, RetryableError
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Job, Transaction

CLAIM = 200
"""Counterpart jobs claimed (and sent in one `apply`) at a time per connection."""


@dataclass(frozen=True, slots=True)
class _Planned:
    job: Job
    op: WriteOp | None  # None: nothing to write (the archive field is not mapped in this connection)
    operation: str  # the plan's word: merge, delete, update
    changes: tuple[tuple[str, CanonicalValue, CanonicalValue], ...]


async def apply_counterparts(ctx: SyncContext, kind: ObjectKind, connection: str) -> None:
    """Claim this connection's counterpart jobs of `kind`, apply them in one call, settle each by its result."""
    kinds = [rmerge_kind(kind, connection), rdelete_kind(kind, connection), rarchive_kind(kind, connection)]
    async with ctx.store.begin() as tx:
        jobs = await tx.jobs.claim(ctx.worker, kinds, limit=CLAIM)
    if not jobs:
        return
    planned = [_plan(ctx, kind, connection, job) for job in jobs]
    ops = [p.op for p in planned if p.op is not None]
    results: list[WriteResult] = []
    if ops and not ctx.dry_run:
        try:
            results = await ctx.connectors[connection].apply(ctx.object_name(connection, kind), ops)
        except CrmSyncError as exc:
            # The CRM failed (down, throttled, out of quota), not these records: no attempt is spent, so an
            # outage of any length delays the counterparts and never dead-letters them (as in delivery).
            async with ctx.store.begin() as tx:
                await tx.jobs.release_many([job.id for job in jobs], ctx.worker, str(exc))
            raise
    by_ref = {r.ref: r for r in results}
    down = connection_down(results)
    async with ctx.store.begin() as tx:
        given_back: dict[str, list[int]] = {}  # why -> jobs
        for item in planned:
            result = by_ref.get(item.op.ref) if item.op is not None else None
            failure = call_failure(result)
            if failure is not None:
                # The connector reported a failed call (a 503 or 429 after its retries), not these records: as
                # when `apply` raises, the job goes back without spending an attempt (as in delivery). One claim
                # a run: the next run tries it again.
                if down is None:
                    ctx.report.add(kind, connection, "retrying")
                given_back.setdefault(down or failure.message, []).append(item.job.id)
                continue
            await _settle(ctx, tx, kind, connection, item, result)
        for reason, job_ids in given_back.items():
            await tx.jobs.release_many(job_ids, ctx.worker, reason)
    if down is not None:
        # Every call failed: the CRM is down or throttling. Reported like a delivery that found it so.
        raise RetryableError(f"{connection}: {down}")


def _plan(ctx: SyncContext, kind: ObjectKind, connection: str, job: Job) -> _Planned:
    remote_id = str(job.payload["remote_id"])
    ref = str(job.id)  # unique within the call, whatever the payloads hold
    if job.kind == rmerge_kind(kind, connection):
        into = str(job.payload["into"])
        return _Planned(
            job, WriteOp("merge", ref, id=remote_id, into=into), "merge", ((MERGED_INTO_FIELD, None, into),)
        )
    if job.kind == rdelete_kind(kind, connection):
        return _Planned(job, WriteOp("delete", ref, id=remote_id), "delete", ())
    settings = ctx.config.object(kind).delete
    if settings.archive_field is None:  # the policy changed since the job was queued: nothing to mark
        return _Planned(job, None, "update", ())
    value = settings.archive_value
    mapped = ctx.object_map(connection, kind).map_out({settings.archive_field: value})
    if not mapped.fields:
        return _Planned(job, None, "update", ())
    op = WriteOp("update", ref, id=remote_id, fields=dict(mapped.fields))
    return _Planned(job, op, "update", ((settings.archive_field, None, value),))


async def _settle(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, item: _Planned, result: WriteResult | None
) -> None:
    job = item.job
    remote_id = str(job.payload["remote_id"])
    canonical_id = str(job.payload.get("canonical_id") or "")
    written = PlannedWrite(connection, kind, item.operation, canonical_id, remote_id, item.changes)
    if item.op is None:
        await tx.jobs.complete(job.id, ctx.worker)
        return
    if ctx.dry_run:
        ctx.report.planned(written)
        ctx.report.add(kind, connection, _counted(item.operation))
        await tx.jobs.complete(job.id, ctx.worker)
        return
    gone = result is not None and result.error is not None and result.error.classification == "not_found"
    if result is None or not (result.ok or gone):
        message = result.error.message if result is not None and result.error else "the connector returned no result"
        await tx.jobs.fail(job.id, ctx.worker, message)
        ctx.report.add(kind, connection, "retrying")
        return
    if result.ok:
        ctx.report.planned(written)
        ctx.report.add(kind, connection, _counted(item.operation))
        if item.op.kind == "merge" and result.id and item.op.into and result.id != item.op.into:
            await _follow_new_id(ctx, tx, kind, connection, item.op.into, result.id)
    elif item.op.kind == "merge":
        # One of the two is gone there (deleted meanwhile): the merged record, unlinked for the merge, may
        # still be live. Read it again: linked like any record seen, or found gone.
        object_name = ctx.object_name(connection, kind)
        await tx.jobs.enqueue(refetch_job(kind, connection, object_name, remote_id, reason="counterpart merge: gone"))
    await tx.jobs.complete(job.id, ctx.worker)  # not_found: already gone (or merged) there, nothing left to do


async def _follow_new_id(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, old_id: str, new_id: str
) -> None:
    """A vendor that gives the merged record a new id (HubSpot): the survivor's link moves to it, in its place.

    A write to the old record that the CRM refused (its errors go with the old id) is tried again on the new
    one: reading the merged record back would find the values crmsync last saw there, and so no change.
    """
    object_name = ctx.object_name(connection, kind)
    canonical_id = await tx.links.canonical_id(connection, object_name, old_id)
    if canonical_id is None:
        return  # unlinked meanwhile: the survivor's read relinks it through its merged ids
    await absorb(ctx, tx, kind, connection, canonical_id, new_id, [old_id])
    await tx.jobs.enqueue(write_job(kind, canonical_id, connection))


def _counted(operation: str) -> str:
    return {"merge": "merged", "delete": "deleted"}.get(operation, "updated")


__all__ = ["CLAIM", "apply_counterparts"]
