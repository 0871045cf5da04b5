"""Deliver the outbox: batched writes per connection and object, recomputed from the golden record when they run.

A write job names a record and a connection; the delta is golden − that connection's shadow at the
moment of delivery, so a superseded write never lands (invariant 4) and a replay after a crash
writes the same values again, with creates made idempotent by the external-id upsert (invariant 2).
What each write met is stored by `settle`. A batch whose settle is refused (its leases ran out on the way, and
another process took its jobs over) may have landed over newer writes: its records are read again, fenced (`fences`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from crmsync.connectors.base import WriteOp, WriteResult, write_batch_mixes_kinds, write_batch_size
from crmsync.engine.call_failures import call_failure, connection_down
from crmsync.engine.context import SyncContext
from crmsync.engine.delivery_types import DeliveryOutcome, Planned
from crmsync.engine.fences import queue_fences
from crmsync.engine.link_waits import parents_landed, wake_link_waits
from crmsync.engine.look_first import look_first
from crmsync.engine.outbox import WriteTarget, refetch_kind, write_kind
from crmsync.engine.reconcile_types import ConnectionState
from crmsync.engine.runlock import leases_being_read, reading_lease
from crmsync.engine.settle import Settled, landed, settle, written_shadow
from crmsync.engine.state import SINGLE_SLOT_LINKS, is_link_field, link_field, parent_kind, role_of, rules_for_record
from crmsync.engine.targets import target_deltas
from crmsync.errors import CrmSyncError, RetryableError
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import GoldenRecord as StoredGolden
from crmsync.store import Job, LeaseLostError, Transaction

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

READS_WAIT = timedelta(seconds=1)
"""How long a create held for its CRM's pending reads waits before it is planned again."""

READS_HOLD = timedelta(seconds=10)
"""How long after it was queued a create may be held for its CRM's reads: then it goes, whatever is read there (a
busy CRM always has reads queued, and a new person must reach it)."""


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
    if not beside_reads or parents_landed(ctx, kind, connection):
        # Children written here before a parent of theirs: their links go now if it has landed. A run that reads
        # looks every time (a parent created by a run that then stopped counts for nothing in this one's report).
        await wake_link_waits(ctx, kind, connection)
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
        # The people some creates would make there may be there already (typed there too): those are met instead.
        planned, jobs = await look_first(ctx, kind, connection, planned, jobs, wait=READS_WAIT, hold=READS_HOLD)
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
                try:
                    held_all = await _give_back(ctx, jobs, exc)
                except LeaseLostError:
                    held_all = False
                if not held_all:  # taken over meanwhile, and the call may have landed after the new holder's
                    await queue_fences(ctx, kind, connection, planned, {})
                raise
        by_ref = {r.ref: r for r in results}
        down = connection_down(results)
        with ctx.report.timed("store"):
            # What each landed write leaves in its CRM is worked out before the transaction: on SQLite the
            # transaction holds the one writer, and the other batches' and the reads' stores wait for it.
            shadows = {
                item.job.id: written_shadow(ctx, kind, connection, item)
                for item in planned
                if landed(item, by_ref.get(item.target.canonical_id), ctx.dry_run)
            }
            try:
                async with ctx.store.begin() as tx:
                    settled = Settled()
                    given_back: dict[tuple[str, timedelta], list[int]] = {}  # (why, how long to wait) -> jobs
                    created = [
                        item.target.canonical_id
                        for item in planned
                        if item.op is not None and item.op.kind in ("create", "upsert") and item.job.id in shadows
                    ]
                    await settled.look_before_creates(tx, connection, created)
                    for item in planned:
                        result = by_ref.get(item.target.canonical_id)
                        failure = call_failure(result)
                        if failure is not None:
                            # The CRM failed the call, not the record: its job goes back without spending an attempt.
                            if down is not None:  # every call failed: this run stops writing here (raised below)
                                given_back.setdefault((down, timedelta(0)), []).append(item.job.id)
                                continue
                            # Other calls of the batch were answered, so the run goes on writing here: the job waits
                            # out a backoff (as `fail` would, spending nothing), else this run claims it again at
                            # once and resends it for as long as the call keeps failing.
                            outcome.retrying += 1
                            wait = tx.jobs.policy.delay(item.job.attempts)
                            given_back.setdefault((f"{failure.code}: {failure.message}", wait), []).append(item.job.id)
                            continue
                        await settle(
                            ctx, tx, kind, connection, item, result, outcome, settled, shadows.get(item.job.id)
                        )
                    await settled.flush(ctx, tx, connection, object_name, kind)
                    for (reason, wait), job_ids in given_back.items():
                        await tx.jobs.release_many(job_ids, ctx.worker, reason, retry_in=wait)
            except LeaseLostError:
                # Jobs of the batch were reaped and taken over while its call was on the way: the writes landed
                # after the new holder's, maybe over newer values. The records are read again after those.
                await queue_fences(ctx, kind, connection, planned, by_ref)
                raise
        if down is not None:
            # Stop writing to this connection for this run; the next run (the service's next pass) tries again.
            raise RetryableError(f"{connection}: {down}")


async def _give_back(ctx: SyncContext, jobs: Sequence[Job], exc: Exception) -> bool:
    """Give back a batch whose call raised, runnable at once (the next run tries again); whether all were held."""
    async with ctx.store.begin() as tx:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, CrmSyncError):
            # The CRM failed (down, throttled, out of quota, auth), not these records: no attempt is spent, so
            # an outage of any length delays them and never dead-letters them.
            return await tx.jobs.release_many([job.id for job in jobs], ctx.worker, reason) == len(jobs)
        for job in jobs:
            await tx.jobs.fail(job.id, ctx.worker, reason, retry_in=timedelta(0))
        return True


async def _claim_round(
    ctx: SyncContext, kind: ObjectKind, connection: str, beside_reads: bool
) -> tuple[list[Job], list[Planned], bool]:
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
    planned: list[Planned] = []
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
                    more = await _plan(ctx, view, kind, connection, claimed, beside_reads=beside_reads)
                held = {item.job.id for item in more if item.held}
                if held:  # given back at once, not kept claimed while they wait
                    async with ctx.store.begin() as tx:
                        await tx.jobs.release_many(sorted(held), ctx.worker, None, retry_in=READS_WAIT)
                    ctx.report.add(kind, connection, "create_held", len(held))
                    jobs = [job for job in jobs if job.id not in held]
                    more = [item for item in more if not item.held]
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
    planned: list[Planned],
    batch_size: int | None,
    *,
    drained: bool,
    mixed: bool = False,
    overdue: Collection[int] = (),
) -> tuple[list[Planned], list[Planned]]:
    """Split off the part-filled last vendor batch of each write kind while more writes wait: it goes back.

    The next round takes the put-back ones first (they are the oldest), so every vendor batch but the very
    last of each kind in a drain is full. That holds for a kind with less than one batch in this round too
    (the few updates among a first sync's creates): sent with each round, they made a sliver of a call per
    round. `mixed`: the vendor batch takes writes of every kind together, so the round has one tail. A tail
    holding an `overdue` job (given back for `TAIL_WAIT` already) is sent now.
    """
    if batch_size is None or drained:
        return planned, []
    by_kind: dict[str, list[Planned]] = {}
    for item in planned:
        if item.op is not None:
            by_kind.setdefault("*" if mixed else item.op.kind, []).append(item)
    put_back: list[Planned] = []
    for items in by_kind.values():
        tail = len(items) % batch_size
        if tail and not any(item.job.id in overdue for item in items[-tail:]):
            put_back += items[-tail:]
    if len(put_back) == len(planned):
        return planned, []  # a round of tails only would come back as it is: send it (progress before thrift)
    dropped = {id(item) for item in put_back}
    return [item for item in planned if id(item) not in dropped], put_back


async def _plan(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    jobs: Sequence[Job],
    *,
    beside_reads: bool = False,
) -> list[Planned]:
    """Each job's write. `beside_reads` (a pass of hints, beside other processes' passes): a create waits while a
    read of its CRM's records of the kind is queued or under way in another process."""
    # Asked before the links are read: a read that links the person here and is done by then left its link.
    reads_waiting = beside_reads and await tx.jobs.reads_waiting(refetch_kind(kind, connection), ctx.worker)
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
    planned: list[Planned] = []
    for job, target in zip(jobs, targets, strict=True):
        stored = goldens.get(target.canonical_id)
        remote = next((lk.remote_id for lk in links.get(target.canonical_id, [])), None)  # the oldest survives
        if stored is None:
            planned.append(Planned(job, target, None))
            continue
        if stored.deleted:
            op = WriteOp("delete", target.canonical_id, id=remote) if remote is not None else None
            planned.append(Planned(job, target, op, remote_id=remote))
            continue
        record_rules = rules_for_record(rules, stored)
        if connection not in record_rules.connections:
            planned.append(Planned(job, target, None))
            continue
        held = shadows.get(target.canonical_id, {})
        shadow = held.get(connection)
        if remote is not None and shadow is None:
            # Linked here but never read (a kept-out record linked to its twin): creating would put the person
            # here twice, and an update would overwrite values no reconcile has met. Its queued read writes it.
            planned.append(Planned(job, target, None, remote_id=remote))
            continue
        states = [ConnectionState(connection, shadow=dict(shadow.fields))] if shadow is not None and remote else []
        golden = stored.record.fields  # values only: what a connection must hold owes nothing to provenance
        withheld = {c.field for c in conflicts.get(target.canonical_id, [])}
        delta = next(iter(target_deltas(golden, states, record_rules, withheld, only=connection)), None)
        if delta is not None and delta.kind == "update":
            same = ctx.unchanged_in_target(kind, connection, delta.fields, delta.previous)
            kept = {name: value for name, value in delta.fields.items() if name not in same}
            delta = replace(delta, fields=kept) if kept else None
        if delta is None:
            planned.append(Planned(job, target, None, remote_id=remote))
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
                if connection in ctx.connections(parent_kind(role_of(name))):
                    waits.append(str(value))  # the parent is not in this connection (yet): parked until it lands
                continue  # else its kind is not synced here: it never will be, and nothing waits for it
            link_ops[role_of(name)] = parent_remote
            written[name] = value
        if delta.kind == "create" and reads_waiting and job.created_at > ctx.clock() - READS_HOLD:
            # The person may be in this CRM already, in a record a hint says changed (typed into two CRMs at
            # once) that another pass has yet to read, or is reading and has not linked yet: created now,
            # they would be here twice. Its read links them; this job then writes to that record instead.
            planned.append(Planned(job, target, None, remote_id=remote, held=True))
            continue
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
            Planned(
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


__all__ = ["BATCH", "deliver"]
