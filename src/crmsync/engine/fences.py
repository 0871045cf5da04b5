"""Fences against late writes: a write whose lease ran out on the way must not read back as the CRM's own edit.

A worker that stalls past its lease still sends its batch; meanwhile another process reaps the jobs, writes,
and may write newer values after that. The late write then lands over them with older values, and its settle
is refused (`LeaseLostError`). Each write of such a batch that landed, or may have, queues a fenced read of its
record (`outbox.fenced_read_job`), carrying the values it wrote. While that job is live, a read of the record
there (a poll, or the job's own read, which the queue runs after the writes of its key queued before it) takes
a field still holding the late value for crmsync's own write: the connection's shadow is set to it first, so the
read changes nothing there and golden − shadow writes the newer value back. A field holding anything else is a
person's edit, or the newer write that won the race: the normal path, which then writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crmsync.connectors.base import WriteResult
from crmsync.engine.call_failures import call_failure
from crmsync.engine.context import SyncContext
from crmsync.engine.delivery_types import Planned
from crmsync.engine.ingest_types import Incoming
from crmsync.engine.outbox import FENCED, fenced_read_job, refetch_kind, write_key
from crmsync.engine.settle import written_shadow
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import NewJob, Shadow, Transaction
from crmsync.store.codec import decode_fields, encode_fields


def _maybe_landed(item: Planned, result: WriteResult | None) -> bool:
    """The item's create or update reached its CRM, or may have (no answer, or the call failed on the way)."""
    if item.op is None or item.op.kind == "delete":
        return False
    return result is None or result.ok or call_failure(result) is not None


async def queue_fences(
    ctx: SyncContext, kind: ObjectKind, connection: str, planned: Sequence[Planned], results: Mapping[str, WriteResult]
) -> int:
    """Queue a fenced read for each write of a batch whose settle was refused that landed or may have (`results`
    by canonical id); how many. In a transaction of its own: the settle's rolled back."""
    sent = [item for item in planned if _maybe_landed(item, results.get(item.target.canonical_id))]
    if ctx.dry_run or not sent:
        return 0
    object_name = ctx.object_name(connection, kind)
    queued: list[NewJob] = []
    async with ctx.store.begin() as tx:
        links = await tx.links.links_of(sorted({item.target.canonical_id for item in sent}), connection)
        for item in sent:
            canonical_id = item.target.canonical_id
            result = results.get(canonical_id)
            linked = next((link.remote_id for link in links.get(canonical_id, [])), None)  # oldest: the survivor
            remote = (result.id if result is not None and result.ok else None) or item.remote_id or linked
            if remote is None:
                continue  # a create never answered nor linked: the reaped job's own upsert writes over it
            values = written_shadow(ctx, kind, connection, item)
            stale = {name: value for name, value in values.items() if name in item.written}
            queued.append(fenced_read_job(kind, connection, object_name, remote, canonical_id, encode_fields(stale)))
        await tx.jobs.enqueue_many(queued)
    ctx.report.add(kind, connection, "fenced", len(queued))
    return len(queued)


async def fence_shadows(
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    incoming: Sequence[Incoming],
    ids: Mapping[str, str | None],
    shadows: dict[str, dict[str, Shadow]],
) -> None:
    """Set `connection`'s shadow (in `shadows`) of each fenced field read back with a late write's value to it."""
    held = sorted(cid for cid, by in shadows.items() if connection in by)
    if not held:
        return  # never written there: no late write can have landed over a newer one
    stale: dict[str, list[dict[str, CanonicalValue]]] = {}
    for job in await tx.jobs.live_of(refetch_kind(kind, connection), [write_key(connection, cid) for cid in held]):
        if FENCED in job.payload:
            stale.setdefault(str(job.payload["canonical_id"]), []).append(decode_fields(job.payload[FENCED]))
    for item in incoming:
        canonical_id = ids.get(item.record.id)
        if canonical_id is None or canonical_id not in stale:
            continue
        shadow = shadows[canonical_id][connection]
        fields = dict(shadow.fields)
        for values in stale[canonical_id]:
            fields.update({n: v for n, v in values.items() if n in item.fields and item.fields[n] == v})
        shadows[canonical_id][connection] = Shadow(canonical_id, connection, fields, shadow.version_token)


__all__ = ["fence_shadows", "queue_fences"]
