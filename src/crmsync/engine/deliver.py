"""Deliver the outbox: batched writes per connection and object, recomputed from the golden record when they run.

A write job names a record and a connection; the delta is golden − that connection's shadow at the
moment of delivery, so a superseded write never lands (invariant 4) and a replay after a crash
writes the same values again, with creates made idempotent by the external-id upsert (invariant 2).
Success stores what was written as the shadow (in the vendor's resolution, through `settle`), so
the change notification the write causes is no change (invariant 3). A per-record failure becomes a
sync error with the vendor's words; the rest of the batch proceeds (invariant 9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from crmsync.connectors.base import WriteOp, WriteResult, write_batch_mixes_kinds, write_batch_size
from crmsync.engine.context import SyncContext
from crmsync.engine.outbox import WriteTarget, write_kind
from crmsync.engine.reconcile_types import ConnectionState, TargetDelta
from crmsync.engine.report import PlannedWrite
from crmsync.engine.runlock import leases_being_read, reading_lease
from crmsync.engine.state import SINGLE_SLOT_LINKS, is_link_field, link_field, role_of, rules_for_record
from crmsync.engine.targets import shadow_after_write, target_deltas
from crmsync.errors import AuthError, CrmSyncError, FatalError, RetryableError
from crmsync.mapping import MappingProblem
from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import GoldenRecord as StoredGolden
from crmsync.store import Job, Link, Shadow, SyncErrorReport, Transaction

BATCH = 1000
"""Jobs claimed per round: a multiple of every vendor's batch size (Salesforce 200, HubSpot 100, Dataverse
1,000 requests per `$batch`), large enough that splitting a round into creates and updates leaves few
part-filled vendor batches (the API calls stay near the minimum the batch sizes allow)."""

ROUND_JOBS = 3 * BATCH
"""Jobs one round may claim while filling up to `BATCH` writes (bounds its transaction and memory)."""

_OP_ORDER = {"upsert": 0, "create": 1, "update": 2, "delete": 3}

BATCHES_IN_FLIGHT = 2
"""Claimed batches per (kind, connection) at once; the connector's own limiter still caps the requests."""

TAIL_WAIT = timedelta(seconds=60)
"""How long a write given back to fill a later vendor batch may wait for company: then it goes part-filled.

A first sync gathers its few updates within seconds; a rare write during a long backfill is not held to its end."""


@dataclass
class DeliveryOutcome:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    retrying: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class _Planned:
    """One claimed job turned into a write (or into nothing)."""

    job: Job
    target: WriteTarget
    op: WriteOp | None
    delta: TargetDelta | None = None
    written: Mapping[str, CanonicalValue] = field(default_factory=dict)
    shadow: Mapping[str, CanonicalValue] | None = None
    remote_id: str | None = None
    problems: tuple[MappingProblem, ...] = ()
    link_waits: tuple[str, ...] = ()


async def deliver(
    ctx: SyncContext, kind: ObjectKind, connection: str, *, beside_reads: bool = False
) -> DeliveryOutcome:
    """Drain the outbox of one (kind, connection) until nothing runnable is left, a few batches in flight.

    While one batch waits for the CRM, the next is planned and the previous settled. A record is in
    at most one batch at a time: claims take one job per key (invariant 4). The batches claim in turn
    (a claim, its plan and the tails it gives back are one step): otherwise, near the end, one batch would
    send the last writes while the other gives back tails that then go out in a second part-filled call.
    `beside_reads` (a pass of hints): stop, giving the claim back, once another run has yet to read the
    connection (`runlock.reading`).
    """
    outcome = DeliveryOutcome()
    claiming = asyncio.Lock()
    held: dict[int, datetime] = {}  # job id -> when it was first given back to wait for company
    # A TaskGroup: when one batch fails, the others are cancelled and awaited, never left writing.
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(BATCHES_IN_FLIGHT):
                group.create_task(_worker(ctx, kind, connection, outcome, claiming, held, beside_reads))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the batches fail for one cause: report it as the caller expects
    return outcome


async def _worker(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    outcome: DeliveryOutcome,
    claiming: asyncio.Lock,
    held: dict[int, datetime],
    beside_reads: bool,
) -> None:
    connector = ctx.connectors[connection]
    object_name = ctx.object_name(connection, kind)
    batch_size = write_batch_size(connector, object_name)
    mixed = write_batch_mixes_kinds(connector, object_name)
    while True:
        with ctx.report.timed("store"):
            async with claiming:
                jobs, planned, drained = await _claim_round(ctx, kind, connection, beside_reads)
                if not jobs:
                    return
                now = ctx.clock()
                overdue = {job_id for job_id, since in held.items() if now - since >= TAIL_WAIT}
                planned, put_back = _without_tails(planned, batch_size, drained=drained, mixed=mixed, overdue=overdue)
                for item in planned:
                    held.pop(item.job.id, None)
                for item in put_back:
                    held.setdefault(item.job.id, now)
                if put_back:
                    async with ctx.store.begin() as tx:
                        await tx.jobs.release_many([item.job.id for item in put_back], ctx.worker, None)
                    jobs = [item.job for item in planned]
        # One record appears once per batch, so ops may be grouped by kind: connectors batch runs of one kind,
        # and an interleaved create/update/create would split every vendor batch into slivers.
        ops = sorted((p.op for p in planned if p.op is not None), key=lambda op: _OP_ORDER[op.kind])
        results: list[WriteResult] = []
        if ops and not ctx.dry_run:
            try:
                with ctx.report.timed("write"):
                    results = await connector.apply(object_name, ops)
            except Exception as exc:
                # Give the batch back before the error goes up: claimed jobs left running would be stuck.
                async with ctx.store.begin() as tx:
                    # Runnable at once: this run stops writing to the connection, the next run tries again.
                    reason = f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, CrmSyncError):
                        # The CRM failed (down, throttled, out of quota, auth), not these records: no attempt is
                        # spent, so an outage of any length delays them and never dead-letters them.
                        await tx.jobs.release_many([job.id for job in jobs], ctx.worker, reason)
                    else:
                        for job in jobs:
                            await tx.jobs.fail(job.id, ctx.worker, reason, retry_in=timedelta(0))
                raise
        by_ref = {r.ref: r for r in results}
        down = _connection_down(results)
        with ctx.report.timed("store"):
            # What each landed write leaves in its CRM is worked out before the transaction: on SQLite the
            # transaction holds the one writer, and the other batches' and the reads' stores wait for it.
            landed = {
                item.job.id: _written_shadow(ctx, kind, connection, item)
                for item in planned
                if _landed(item, by_ref.get(item.target.canonical_id), ctx.dry_run)
            }
            async with ctx.store.begin() as tx:
                settled = _Settled()
                released: list[int] = []
                for item in planned:
                    result = by_ref.get(item.target.canonical_id)
                    if down is not None and result is not None and not result.ok:
                        released.append(item.job.id)
                        continue
                    await _settle(ctx, tx, kind, connection, item, result, outcome, settled, landed.get(item.job.id))
                await settled.flush(ctx, tx, connection, object_name)
                await tx.jobs.release_many(released, ctx.worker, down or "")
        if down is not None:
            # Stop writing to this connection for this run; the next run (the service's next pass) tries again.
            raise RetryableError(f"{connection}: {down}")


async def _claim_round(
    ctx: SyncContext, kind: ObjectKind, connection: str, beside_reads: bool
) -> tuple[list[Job], list[_Planned], bool]:
    """Claim and plan jobs until the round holds `BATCH` writes, the outbox runs dry, or `ROUND_JOBS` jobs.

    Many jobs plan to no write (the target already agrees, a parent is still missing): a round of `BATCH`
    jobs would then send part-filled vendor batches, and the API calls would exceed the minimum. The flag
    says whether the outbox ran dry (this round is the last for now), else more jobs wait.

    Each claim is a short write transaction; the plan reads in a read-only one. Claimed jobs are leased to
    this worker, so the plan needs no lock: a change committed after it queues the record's next job. On
    SQLite the one writer is then free for other batches and the reads while this round plans.
    `beside_reads`: a claim that finds a run reading the connection gives the whole round back and ends it
    (no jobs): what that run reads there decides these writes. It looks in the claim's own transaction, and a
    run takes its lease before it reads, so a claim that saw jobs queued by those reads also sees the lease.
    """
    jobs: list[Job] = []
    planned: list[_Planned] = []
    writes = 0
    try:
        while writes < BATCH and len(jobs) < ROUND_JOBS:
            wanted = min(BATCH - writes, ROUND_JOBS - len(jobs))
            async with ctx.store.begin() as tx:
                claimed = await tx.jobs.claim(ctx.worker, [write_kind(kind, connection)], limit=wanted)
                if (
                    beside_reads
                    and claimed
                    and reading_lease(kind, connection) in await leases_being_read(tx, ctx.worker)
                ):
                    await tx.jobs.release_many([job.id for job in [*jobs, *claimed]], ctx.worker, None)
                    return [], [], True
            jobs += claimed
            if claimed:
                async with ctx.store.read() as view:
                    more = await _plan(ctx, view, kind, connection, claimed)
                planned += more
                writes += sum(1 for item in more if item.op is not None)
            if len(claimed) < wanted:
                return jobs, planned, True  # nothing more is runnable now
        return jobs, planned, False
    except Exception:
        # Claimed but never sent: give them back as a rolled-back claim would have been, with no attempt spent.
        if jobs:
            async with ctx.store.begin() as tx:
                await tx.jobs.release_many([job.id for job in jobs], ctx.worker, None)
        raise


def _without_tails(
    planned: list[_Planned],
    batch_size: int | None,
    *,
    drained: bool,
    mixed: bool = False,
    overdue: Collection[int] = (),
) -> tuple[list[_Planned], list[_Planned]]:
    """Split off the part-filled last vendor batch of each write kind while more writes wait: it goes back.

    The next round takes the put-back ones first (they are the oldest), so every vendor batch but the very
    last of each kind in a drain is full. That holds for a kind with less than one batch in this round too
    (the few updates among a first sync's creates): sent with each round, they made a sliver of a call per
    round. `mixed`: the vendor batch takes writes of every kind together, so the round has one tail. A tail
    holding an `overdue` job (given back for `TAIL_WAIT` already) is sent now.
    """
    if batch_size is None or drained:
        return planned, []
    by_kind: dict[str, list[_Planned]] = {}
    for item in planned:
        if item.op is not None:
            by_kind.setdefault("*" if mixed else item.op.kind, []).append(item)
    put_back: list[_Planned] = []
    for items in by_kind.values():
        tail = len(items) % batch_size
        if tail and not any(item.job.id in overdue for item in items[-tail:]):
            put_back += items[-tail:]
    if len(put_back) == len(planned):
        return planned, []  # a round of tails only would come back as it is: send it (progress before thrift)
    dropped = {id(item) for item in put_back}
    return [item for item in planned if id(item) not in dropped], put_back


def _connection_down(results: Sequence[WriteResult]) -> str | None:
    """The error when every write of a batch failed retryably: the CRM is down or throttling, not the records.

    Such a batch spends no attempt (an outage of any length must not dead-letter it); a retryable
    failure of some records only (a row lock) is theirs, and counts.
    """
    if not results or any(r.ok or r.error is None or r.error.classification != "retryable" for r in results):
        return None
    error = results[0].error
    assert error is not None
    return f"every write of a batch failed, the CRM is unavailable: {error.code}: {error.message}"


async def _plan(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, jobs: Sequence[Job]
) -> list[_Planned]:
    targets = [WriteTarget.from_payload(job.payload) for job in jobs]
    ids = sorted({t.canonical_id for t in targets})
    goldens = await tx.records.get_many(ids)
    shadows = await tx.shadows.get_many(ids, connection)  # only the target's shadow is compared
    conflicts = await tx.conflicts.open_for(ids)
    links = await tx.links.links_of(ids, connection)  # only the target's link is written to
    parents = await _parent_links(ctx, tx, kind, connection, goldens)
    rules = ctx.rules(kind)
    vendor = ctx.vendor(connection)
    external = ctx.external_id(connection, kind)
    planned: list[_Planned] = []
    for job, target in zip(jobs, targets, strict=True):
        stored = goldens.get(target.canonical_id)
        remote = next((lk.remote_id for lk in links.get(target.canonical_id, [])), None)  # the oldest survives
        if stored is None:
            planned.append(_Planned(job, target, None))
            continue
        if stored.deleted:
            op = WriteOp("delete", target.canonical_id, id=remote) if remote is not None else None
            planned.append(_Planned(job, target, op, remote_id=remote))
            continue
        record_rules = rules_for_record(rules, stored)
        if connection not in record_rules.connections:
            planned.append(_Planned(job, target, None))
            continue
        held = shadows.get(target.canonical_id, {})
        shadow = held.get(connection)
        states = [ConnectionState(connection, shadow=dict(shadow.fields))] if shadow is not None and remote else []
        golden = stored.record.fields  # values only: what a connection must hold owes nothing to provenance
        withheld = {c.field for c in conflicts.get(target.canonical_id, [])}
        delta = next(iter(target_deltas(golden, states, record_rules, withheld, only=connection)), None)
        if delta is not None and delta.kind == "update":
            same = ctx.unchanged_in_target(kind, connection, delta.fields, delta.previous)
            kept = {name: value for name, value in delta.fields.items() if name not in same}
            delta = replace(delta, fields=kept) if kept else None
        if delta is None:
            planned.append(_Planned(job, target, None, remote_id=remote))
            continue
        plain = {name: value for name, value in delta.fields.items() if not is_link_field(name)}
        mapped = ctx.config.mappings.map_out(vendor, kind, plain, golden)
        failed = {name for p in mapped.problems for name in p.field.split(",")}
        written: dict[str, CanonicalValue] = {name: value for name, value in plain.items() if name not in failed}
        link_ops: dict[str, str | None] = {}
        waits: list[str] = []
        slot = _single_slot_role(vendor, kind, golden)
        for name, value in delta.fields.items():
            if not is_link_field(name):
                continue
            if slot is not None and role_of(name) != slot:
                written[name] = value  # the record holds one parent only: this role is not shown there
                continue
            if value is None:
                link_ops[role_of(name)] = None
                written[name] = None
                continue
            parent_remote = parents.get((role_of(name), str(value)))
            if parent_remote is None:
                waits.append(role_of(name))  # the parent is not in this connection (yet): retried later
                continue
            link_ops[role_of(name)] = parent_remote
            written[name] = value
        write: WriteOp | None
        if delta.kind == "create":
            write = WriteOp(
                "upsert" if external else "create",
                target.canonical_id,
                fields=mapped.fields,
                external_id=(external, target.canonical_id) if external else None,
                links=link_ops,
            )
        elif mapped.fields or link_ops:
            write = WriteOp("update", target.canonical_id, id=remote, fields=mapped.fields, links=link_ops)
        else:
            write = None
        planned.append(
            _Planned(
                job,
                target,
                write,
                delta,
                written,
                dict(shadow.fields) if shadow is not None else None,
                remote,
                mapped.problems,
                tuple(waits),
            )
        )
    return planned


def _single_slot_role(vendor: str, kind: ObjectKind, golden: Mapping[str, CanonicalValue]) -> str | None:
    """For a record with one parent slot (a Dataverse activity's regarding), the role that takes it."""
    if (vendor, kind) not in SINGLE_SLOT_LINKS:
        return None
    return next((role for role in ("deal", "company", "contact") if golden.get(link_field(role)) is not None), "")


async def _parent_links(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, goldens: Mapping[str, StoredGolden]
) -> dict[tuple[str, str], str]:
    """(role, parent canonical id) → the parent's remote id in `connection`."""
    wanted = sorted(
        {
            str(value)
            for stored in goldens.values()
            for name, value in stored.record.fields.items()
            if is_link_field(name) and value is not None
        }
    )
    found: dict[tuple[str, str], str] = {}
    for canonical_id, held in (await tx.links.links_of(wanted, connection)).items():
        for link in held:  # oldest first: the survivor is the one written to
            if (link.kind, canonical_id) not in found:
                found[(link.kind, canonical_id)] = link.remote_id
    return found


@dataclass
class _Settled:
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

    async def flush(self, ctx: SyncContext, tx: Transaction, connection: str, object_name: str) -> None:
        await tx.links.link_many(self.links)
        await tx.shadows.put_many(self.shadows)
        await tx.errors.replace(connection, object_name, ("create", "update"), self.errors)
        await tx.errors.clear_many(connection, object_name, self.cleared)
        await tx.errors.clear_overwritten(connection, object_name, self.overwritten)
        await tx.jobs.complete_many(self.done, ctx.worker)


async def _settle(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    item: _Planned,
    result: WriteResult | None,
    outcome: DeliveryOutcome,
    settled: _Settled,
    written_shadow: dict[str, CanonicalValue] | None,
) -> None:
    """Store one write's outcome; `written_shadow` is `_written_shadow` of the item when it landed."""
    object_name = ctx.object_name(connection, kind)
    canonical_id = item.target.canonical_id
    if item.op is None:
        outcome.unchanged += 1
        settled.errors[canonical_id] = _problems_met(item, connection, object_name)
        settled.done.append(item.job.id)
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
            await tx.links.unlink(connection, object_name, item.remote_id)
        await tx.shadows.delete(canonical_id, connection)
        await tx.jobs.complete(item.job.id, ctx.worker)
        await tx.errors.clear_record(connection, object_name, canonical_id)
        _plan_entry(ctx, kind, connection, item)
        return
    assert item.delta is not None
    remote_id = result.id or item.remote_id
    if item.op.kind in ("create", "upsert"):
        outcome.created += 1
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
    if item.link_waits:
        ctx.report.add(kind, connection, "link_waiting")


def _problems_met(item: _Planned, connection: str, object_name: str) -> list[SyncErrorReport]:
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


def _landed(item: _Planned, result: WriteResult | None, dry_run: bool) -> bool:
    """The item's create or update reached its CRM (its shadow is then what was written)."""
    return item.op is not None and item.op.kind != "delete" and not dry_run and result is not None and result.ok


def _written_shadow(ctx: SyncContext, kind: ObjectKind, connection: str, item: _Planned) -> dict[str, CanonicalValue]:
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
    item: _Planned,
    result: WriteResult,
    outcome: DeliveryOutcome,
    settled: _Settled,
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
            await tx.links.unlink(connection, ctx.object_name(connection, kind), item.remote_id)
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
        await tx.errors.record(report)  # a refused delete: not what `_Settled.errors` settles
    # Not retried on its own: the next change of the record (or `crmsync errors retry`) queues it again.
    settled.done.append(item.job.id)


def _plan_entry(
    ctx: SyncContext, kind: ObjectKind, connection: str, item: _Planned, remote_id: str | None = None
) -> None:
    """Describe the write in the run's plan (`remote_id`, when given: the id the write reported)."""
    assert item.op is not None
    if ctx.report.plan_full:
        return
    operation = "delete" if item.op.kind == "delete" else ("update" if item.op.kind == "update" else "create")
    previous = item.delta.previous if item.delta is not None else {}
    changes = tuple((name, previous.get(name), value) for name, value in sorted(item.written.items()))
    remote = remote_id if remote_id is not None else item.remote_id
    ctx.report.planned(PlannedWrite(connection, kind, operation, item.target.canonical_id, remote, changes))


__all__ = ["BATCH", "DeliveryOutcome", "deliver"]
