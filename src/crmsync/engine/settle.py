"""Settle a delivered batch's write results: jobs done or retried, links, shadows and sync errors, stored in bulk.

Success stores what was written as the shadow (in the vendor's resolution, through `settle`), so
the change notification the write causes is no change (invariant 3). A per-record failure becomes a
sync error with the vendor's words; the rest of the batch proceeds (invariant 9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmsync.connectors.base import WriteResult
from crmsync.engine.context import SyncContext
from crmsync.engine.delivery_types import DeliveryOutcome, Planned
from crmsync.engine.merges import report_duplicate
from crmsync.engine.outbox import link_wait_job, link_wait_key, link_wait_kind
from crmsync.engine.parked_ends import PARENT_ENDS
from crmsync.engine.reconcile_types import TargetDelta
from crmsync.engine.report import PlannedWrite
from crmsync.engine.state import DELETED_BY_CRMSYNC, is_link_field, unlink_deleted
from crmsync.engine.targets import shadow_after_write
from crmsync.errors import AuthError, FatalError
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Link, NewJob, Shadow, SyncErrorReport, Transaction


@dataclass
class Settled:
    """A batch's outcomes written in bulk: jobs done, new links, new shadows, what each write met, records whose
    errors are cleared."""

    done: list[int] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    shadows: list[Shadow] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    errors: dict[str, list[SyncErrorReport]] = field(default_factory=dict)
    """What each write met, by canonical id (maybe nothing): its record's create and update errors become these."""
    overwritten: dict[str, set[str]] = field(default_factory=dict)
    """Remote id -> the canonical fields a write that landed there replaced: read errors about them are moot."""
    linked: dict[str, str] = field(default_factory=dict)
    """Canonical id -> the remote id linked in the connection when its create settles (see `look_before_creates`)."""
    link_waits: list[NewJob] = field(default_factory=list)
    """Records written without a link whose parent is not in the connection yet: parked until it lands."""
    unparked: list[str] = field(default_factory=list)
    """Records settled with no link left out (or deleted): a link wait parked for them earlier is moot."""

    async def look_before_creates(self, tx: Transaction, connection: str, canonical_ids: list[str]) -> None:
        """Which records created in `connection` gained a link there since their create was planned.

        A pass that read the person's own record there (typed into two CRMs at once) may have linked it while the
        create was on its way. The records' rows are locked first, as that pass's identify locks them before it
        looks at their links, so whichever of the two comes second sees the other's link.
        """
        if not canonical_ids:
            return
        await tx.records.lock(canonical_ids)
        for canonical_id, held in (await tx.links.links_of(canonical_ids, connection)).items():
            self.linked[canonical_id] = held[0].remote_id  # oldest first: the survivor

    async def flush(
        self, ctx: SyncContext, tx: Transaction, connection: str, object_name: str, kind: ObjectKind
    ) -> None:
        await tx.links.link_many(self.links)
        await tx.jobs.finish_parked(
            link_wait_kind(kind, connection), [link_wait_key(connection, c) for c in self.unparked]
        )
        await tx.jobs.enqueue_many(self.link_waits)
        # A link reported as never to be written (`parked_ends`) is written, or no longer owed: the report is over.
        await tx.errors.clear_coded(connection, object_name, "link", PARENT_ENDS, self.unparked)
        await tx.shadows.put_many(self.shadows)
        await tx.errors.replace(connection, object_name, ("create", "update"), self.errors)
        await tx.errors.clear_many(connection, object_name, self.cleared)
        await tx.errors.clear_overwritten(connection, object_name, self.overwritten)
        await tx.jobs.complete_many(self.done, ctx.worker)


async def settle(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    item: Planned,
    result: WriteResult | None,
    outcome: DeliveryOutcome,
    settled: Settled,
    written_shadow: dict[str, CanonicalValue] | None,
) -> None:
    """Store one write's outcome; `written_shadow` is `written_shadow()` of the item when it landed."""
    object_name = ctx.object_name(connection, kind)
    canonical_id = item.target.canonical_id
    if item.op is None:
        outcome.unchanged += 1
        settled.errors[canonical_id] = _problems_met(item, connection, object_name)
        settled.done.append(item.job.id)
        if not ctx.dry_run:
            _links_left_out(ctx, kind, connection, item, settled)
        return
    if ctx.dry_run:
        if item.op.kind != "delete":
            settled.errors[canonical_id] = _problems_met(item, connection, object_name)
        _plan_entry(ctx, kind, connection, item)
        settled.done.append(item.job.id)
        return
    if result is None:
        # How the write went is not known yet: it is tried again, and its errors stay as they were.
        await tx.jobs.fail(item.job.id, ctx.worker, "the connector returned no result for this write")
        outcome.retrying += 1
        return
    if not result.ok:
        await _failed(ctx, tx, kind, connection, item, result, outcome, settled)
        return
    if item.op.kind == "delete":
        outcome.deleted += 1
        if item.remote_id is not None:
            await unlink_deleted(
                tx, canonical_id, connection, object_name, item.remote_id, ctx.clock(), DELETED_BY_CRMSYNC
            )
        await tx.shadows.delete(canonical_id, connection)
        await tx.jobs.complete(item.job.id, ctx.worker)
        await tx.errors.clear_record(connection, object_name, canonical_id)
        settled.unparked.append(canonical_id)
        _plan_entry(ctx, kind, connection, item)
        return
    assert item.delta is not None
    remote_id = result.id or item.remote_id
    if item.op.kind in ("create", "upsert"):
        outcome.created += 1
        survivor = settled.linked.get(canonical_id)
        if remote_id is not None and survivor is not None and survivor != remote_id:
            # Its own record there was linked while this create was on its way: that one stays the record crmsync
            # syncs (its values were reconciled), and the one created is reported as a duplicate, as if met there.
            settled.links.append(Link(canonical_id, kind, connection, object_name, remote_id))
            await report_duplicate(
                tx,
                connection,
                object_name,
                canonical_id,
                remote_id,
                f"duplicate {kind} in {connection}: crmsync created {remote_id} while {survivor}, the same {kind} "
                f"entered there, was being linked; {survivor} stays the one crmsync syncs; merge them in {connection}",
            )
            settled.done.append(item.job.id)
            _plan_entry(ctx, kind, connection, item, remote_id)
            return
        if remote_id is not None:
            settled.links.append(Link(canonical_id, kind, connection, object_name, remote_id))
    else:
        outcome.updated += 1
    assert written_shadow is not None
    settled.shadows.append(Shadow(canonical_id, connection, written_shadow))
    settled.done.append(item.job.id)
    if remote_id is not None and item.written:
        settled.overwritten.setdefault(remote_id, set()).update(item.written)
    _plan_entry(ctx, kind, connection, item, remote_id)
    if item.problems:
        settled.errors[canonical_id] = _problems_met(item, connection, object_name)
    else:
        settled.cleared.append(canonical_id)  # gone through whole: `clear_many` settles its errors
    _links_left_out(ctx, kind, connection, item, settled)


def _links_left_out(ctx: SyncContext, kind: ObjectKind, connection: str, item: Planned, settled: Settled) -> None:
    """A record written (or found up to date) without the links to parents not in the connection yet: parked until
    one of them lands there (`link_waits.wake_link_waits`). Nothing else would write them: the record has not
    changed, and the parent's create queues no write of its children."""
    canonical_id = item.target.canonical_id
    if item.link_waits:
        ctx.report.add(kind, connection, "link_waiting")
        settled.link_waits.append(link_wait_job(kind, canonical_id, connection, item.link_waits))
    else:
        settled.unparked.append(canonical_id)


def _problems_met(item: Planned, connection: str, object_name: str) -> list[SyncErrorReport]:
    """The sync errors of what mapping the write out met (values the target cannot take)."""
    return [
        SyncErrorReport(
            connection=connection,
            object=object_name,
            operation="update" if item.remote_id else "create",
            message=problem.message,
            canonical_id=item.target.canonical_id,
            remote_id=item.remote_id,
            field=problem.field,
            code=problem.code,
        )
        for problem in item.problems
    ]


def landed(item: Planned, result: WriteResult | None, dry_run: bool) -> bool:
    """The item's create or update reached its CRM (its shadow is then what was written)."""
    return item.op is not None and item.op.kind != "delete" and not dry_run and result is not None and result.ok


def written_shadow(ctx: SyncContext, kind: ObjectKind, connection: str, item: Planned) -> dict[str, CanonicalValue]:
    """The shadow a landed write leaves: the connection's known values with the written ones read back in."""
    assert item.op is not None and item.delta is not None
    values = _settled(ctx, kind, connection, item.written, item.op.fields)
    mapped = ctx.rules(kind).connection_fields.get(connection, frozenset())
    written_delta = TargetDelta(connection, item.delta.kind, values)
    return shadow_after_write(item.shadow if item.delta.kind == "update" else None, written_delta, mapped)


def _settled(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    written: Mapping[str, CanonicalValue],
    vendor_fields: Mapping[str, Any],
) -> dict[str, CanonicalValue]:
    """The written canonical values as the target will hand them back: the vendor fields sent, read back in.

    (Mappings.settle does the same from canonical values; the vendor fields are already at hand here.)
    """
    plain = {name: value for name, value in written.items() if not is_link_field(name)}
    read = ctx.config.mappings.map_in(ctx.vendor(connection), kind, vendor_fields).fields
    settled: dict[str, Any] = {name: read[name] for name in plain if name in read}
    out: dict[str, CanonicalValue] = {name: settled.get(name, value) for name, value in plain.items()}
    out.update({name: value for name, value in written.items() if is_link_field(name)})
    return out


async def _failed(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    item: Planned,
    result: WriteResult,
    outcome: DeliveryOutcome,
    settled: Settled,
) -> None:
    error = result.error
    assert error is not None and item.op is not None
    if error.classification == "retryable":
        outcome.retrying += 1
        await tx.jobs.fail(item.job.id, ctx.worker, f"{error.code}: {error.message}")
        return  # tried again later: its errors stay as they were
    if error.classification in ("auth", "fatal"):
        await tx.jobs.fail(item.job.id, ctx.worker, f"{error.code}: {error.message}")
        raise (AuthError if error.classification == "auth" else FatalError)(
            f"{connection}: {error.code}: {error.message}"
        )
    if item.op.kind == "delete" and error.classification == "not_found":
        outcome.deleted += 1  # already gone there: the goal is reached
        if item.remote_id is not None:
            object_name = ctx.object_name(connection, kind)
            canonical_id = item.target.canonical_id
            await unlink_deleted(
                tx, canonical_id, connection, object_name, item.remote_id, ctx.clock(), DELETED_BY_CRMSYNC
            )
        await tx.shadows.delete(item.target.canonical_id, connection)
        await tx.jobs.complete(item.job.id, ctx.worker)
        return
    outcome.failed += 1
    fields = ", ".join(error.fields)
    object_name = ctx.object_name(connection, kind)
    report = SyncErrorReport(
        connection=connection,
        object=object_name,
        operation=item.op.kind if item.op.kind != "upsert" else "create",
        message=error.message,
        canonical_id=item.target.canonical_id,
        remote_id=item.remote_id,
        field=fields or None,
        code=error.code,
    )
    if report.operation in ("create", "update"):
        settled.errors[item.target.canonical_id] = [*_problems_met(item, connection, object_name), report]
    else:
        await tx.errors.record(report)  # a refused delete: not what `Settled.errors` settles
    # Not retried on its own: the next change of the record (or `crmsync errors retry`) queues it again.
    settled.done.append(item.job.id)


def _plan_entry(
    ctx: SyncContext, kind: ObjectKind, connection: str, item: Planned, remote_id: str | None = None
) -> None:
    """Describe the write in the run's plan (`remote_id`, when given: the id the write reported)."""
    assert item.op is not None
    operation = "delete" if item.op.kind == "delete" else ("update" if item.op.kind == "update" else "create")
    if ctx.report.plan_full:
        ctx.report.planned_beyond_cap(kind, connection, operation)
        return
    previous = item.delta.previous if item.delta is not None else {}
    changes = tuple((name, previous.get(name), value) for name, value in sorted(item.written.items()))
    remote = remote_id if remote_id is not None else item.remote_id
    ctx.report.planned(PlannedWrite(connection, kind, operation, item.target.canonical_id, remote, changes))


__all__ = ["Settled", "landed", "settle", "written_shadow"]
