"""Ingest one page of one connection's records: map, identify, reconcile, and store the outcome in one transaction.

The page's effects (links, shadows, golden records, conflicts, audit, outbox rows, sync errors) and
the cursor that follows the page commit together, so a crash replays the page and never skips it
(invariants 1 and 5). Tombstones are queued as delete jobs; the runner decides on them once every
connection of the kind was read (the mass-delete breaker needs the whole run's count).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.fences import fence_shadows
from crmsync.engine.identify import identify
from crmsync.engine.ingest_types import Incoming, PageOutcome
from crmsync.engine.merge import reconcile
from crmsync.engine.merges import chained
from crmsync.engine.orphans import orphans
from crmsync.engine.outbox import write_job
from crmsync.engine.reconcile_types import REVERTED, REVERTED_FIRST_MET, ConnectionState, ReconcileResult
from crmsync.engine.reconcile_types import AuditEntry as ReconciledEntry
from crmsync.engine.reentry import REENTRY_RESOLVER, bring_back
from crmsync.engine.state import (
    LINK_ROLES,
    gone_from,
    link_values,
    parent_kind,
    rules_for_record,
    to_merged,
    to_stored,
)
from crmsync.engine.tombstones import DELETED_FIELD, delete_job
from crmsync.mapping import Mapped
from crmsync.model.golden import ConflictSide as MergedSide
from crmsync.model.golden import ParkedConflict
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import (
    AuditEntry,
    Conflict,
    ConflictSide,
    NewJob,
    Shadow,
    StaleRecordError,
    SyncErrorReport,
    Transaction,
)
from crmsync.store import GoldenRecord as StoredGolden
from crmsync.store.codec import content_hash

STALE_ATTEMPTS = 5
"""Reconciles of one page tried before a conflicting concurrent writer is reported (it never loses either write)."""


CHUNK = 500
"""Records reconciled per transaction. A vendor page may hold 5,000 (Dataverse) or 2,000 (Salesforce):
one transaction for all of them would hold their golden records, shadows, audit rows and statement
parameters at once, and the SQLite writer (and the webhooks waiting on it) for as long."""


async def ingest_page(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    upserts: Sequence[RemoteRecord],
    tombstones: Sequence[Tombstone],
    cursor: str | None,
    *,
    complete: Sequence[int] = (),
    mapped: Sequence[Mapped] | None = None,
) -> PageOutcome:
    """Reconcile one page and commit it with the cursor that follows it (or with the refetch jobs it answers).

    A large page is committed in chunks of `CHUNK` records; only the last carries the cursor (and the
    tombstones and answered jobs), so a crash between chunks replays the whole page, whose committed
    chunks then read as unchanged (invariants 1 and 5). `mapped` is `map_in` of each upsert when the caller
    mapped them already (the read-ahead does, while the store works on the page before).
    """
    if mapped is not None and len(mapped) != len(upserts):
        raise ValueError(f"{len(mapped)} mapped records given for {len(upserts)} upserts")
    total = PageOutcome(seen=len(upserts) + len(tombstones))
    starts = range(0, len(upserts), CHUNK) if upserts else range(1)
    for number, start in enumerate(starts, start=1):
        last = number == len(starts)
        outcome = await _ingest_chunk(
            ctx,
            kind,
            connection,
            upserts[start : start + CHUNK],
            None if mapped is None else mapped[start : start + CHUNK],
            tombstones if last else (),
            cursor if last else None,
            complete if last else (),
        )
        total.add(outcome)
    return total


async def _ingest_chunk(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    upserts: Sequence[RemoteRecord],
    mapped: Sequence[Mapped] | None,
    tombstones: Sequence[Tombstone],
    cursor: str | None,
    complete: Sequence[int],
) -> PageOutcome:
    started, pure = time.perf_counter(), ctx.report.timings["reconcile"]
    if mapped is None:  # mapped once: a retry after a stale write maps the same records to the same values
        with ctx.report.timed("reconcile"):
            object_map = ctx.object_map(connection, kind)
            mapped = [object_map.map_in(record.fields) for record in upserts]
    try:
        for attempt in range(1, STALE_ATTEMPTS + 1):
            outcome = PageOutcome()
            try:
                await _ingest(ctx, kind, connection, upserts, mapped, tombstones, cursor, complete, outcome)
                break
            except StaleRecordError:
                # Another worker wrote one of the chunk's golden records since it was read: the transaction
                # rolled back whole, so reconcile the chunk again on fresh state.
                if attempt == STALE_ATTEMPTS:
                    raise
    finally:
        # Store time is the chunk's wall time minus what reconcile (pure code) took of it.
        elapsed = time.perf_counter() - started
        ctx.report.timings["store"] += elapsed - (ctx.report.timings["reconcile"] - pure)
    return outcome


async def _ingest(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    upserts: Sequence[RemoteRecord],
    mapped: Sequence[Mapped],
    tombstones: Sequence[Tombstone],
    cursor: str | None,
    complete: Sequence[int],
    outcome: PageOutcome,
) -> None:
    async with ctx.store.begin() as tx:
        incoming = await _map_page(ctx, tx, kind, connection, upserts, mapped)
        ids = await identify(ctx, tx, kind, connection, incoming, outcome)
        await _reconcile_page(ctx, tx, kind, connection, incoming, ids, outcome)
        await _queue_tombstones(ctx, tx, kind, connection, tombstones, outcome)
        if cursor is not None:
            await tx.cursors.put(connection, ctx.object_name(connection, kind), cursor)
        # One statement for the page's jobs: per-job updates held the SQLite writer (and the webhooks) for long.
        await tx.jobs.complete_many(complete, ctx.worker)


async def _map_page(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    upserts: Sequence[RemoteRecord],
    mapped: Sequence[Mapped],
) -> list[Incoming]:
    """The page's records with their mapped fields (`mapped`, in the same order) and their parents resolved."""
    vendor = ctx.vendor(connection)
    # Parents by role, looked up in one query per role.
    wanted: dict[str, set[str]] = {}
    for record in upserts:
        for role in LINK_ROLES[kind]:
            wanted.setdefault(role, set()).update(record.links.get(role, ()))
    resolved: dict[str, dict[str, str]] = {}
    for role, remote_ids in wanted.items():
        parent_object = ctx.config.mappings.get(vendor, parent_kind(role)).object
        resolved[role] = await tx.links.canonical_ids(connection, parent_object, sorted(remote_ids))
    # Parents not linked that never will be (kept out, deleted or merged away there): followed, or left out.
    ended = await orphans(ctx, tx, kind, connection, {r: ids - set(resolved[r]) for r, ids in wanted.items()})
    for role, followed in ended.followed.items():
        resolved[role] = {**resolved[role], **followed}
    out: list[Incoming] = []
    for record, mapping in zip(upserts, mapped, strict=True):
        fields = dict(mapping.fields)
        # A parent not linked yet is left out (no change) until it is synced.
        links, unresolved = link_values(vendor, kind, record.links, resolved)
        fields.update(links)
        parents = {role: tuple(record.links.get(role, ())) for role in LINK_ROLES[kind]}
        problems = mapping.problems
        if left_out := ended.problems(record.id, kind, parents):
            problems = (*problems, *left_out)
            ctx.left_out.add((connection, ctx.object_name(connection, kind), record.id))
        out.append(Incoming(record, fields, problems, ended.parents(parents), unresolved))
    await ended.stop_waiting(tx, kind, connection, ctx.object_name(connection, kind))
    return out


@dataclass
class _PageWrites:
    """What a page's reconciles write, flushed in a few bulk statements at the end of the page."""

    goldens: dict[str, StoredGolden] = field(default_factory=dict)
    shadows: list[Shadow] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    jobs: list[NewJob] = field(default_factory=list)
    read_errors: dict[str, list[SyncErrorReport]] = field(default_factory=dict)
    """Each record reconciled, by canonical id: the problems its mapping met (maybe none)."""
    changed: set[str] = field(default_factory=set)
    """Records stored before whose golden values this page changed."""

    async def flush(self, tx: Transaction, connection: str, object_name: str) -> None:
        await tx.records.put_many(list(self.goldens.values()))
        await tx.shadows.put_many(self.shadows)
        await tx.audit.append(self.audit)
        await tx.jobs.enqueue_many(self.jobs)
        await tx.errors.replace(connection, object_name, ("read",), self.read_errors)


async def _reconcile_page(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    incoming: Sequence[Incoming],
    ids: Mapping[str, str | None],
    outcome: PageOutcome,
) -> None:
    # A record that reads exactly as its shadow changed nothing here (the echo of crmsync's own write,
    # or a change to an unmapped field): skip it before loading anything else.
    linked = sorted({cid for cid in ids.values() if cid is not None})
    stored_hashes = await tx.shadows.hashes(linked, connection)
    unchanged = {
        item.record.id
        for item in incoming
        if (cid := ids.get(item.record.id)) is not None
        and cid in stored_hashes
        and not item.problems
        and stored_hashes[cid] == content_hash(item.fields)
    }
    outcome.unchanged += len(unchanged)
    object_name = ctx.object_name(connection, kind)
    # Read without a problem, such a record has no read errors left (a value fixed in another CRM reads back
    # here as the echo of crmsync's write).
    await tx.errors.clear_reads(
        connection, object_name, {rid: cid for rid, cid in ids.items() if rid in unchanged and cid}
    )
    targets = sorted({cid for rid, cid in ids.items() if cid is not None and rid not in unchanged})
    goldens = await tx.records.get_many(targets)
    shadows = await tx.shadows.get_many(targets)
    await fence_shadows(tx, kind, connection, incoming, ids, shadows)  # late writes of crmsync's are no edits
    conflicts = await tx.conflicts.open_for(targets)
    links = await tx.links.links_of(targets)
    rules = ctx.rules(kind)
    now = ctx.clock()
    writes = _PageWrites()
    for item in incoming:
        record = item.record
        canonical_id = ids.get(record.id)
        if canonical_id is None or record.id in unchanged:
            continue
        survivor = next((link.remote_id for link in links.get(canonical_id, []) if link.connection == connection), None)
        if survivor is not None and survivor != record.id:
            continue  # a duplicate: only the survivor's values count
        outcome.errors += len(item.problems)
        stored = goldens.get(canonical_id)
        if item.problems or stored is not None:  # a record met for the first time has no errors to settle
            writes.read_errors[canonical_id] = [
                SyncErrorReport(
                    connection=connection,
                    object=object_name,
                    operation="read",
                    message=problem.message,
                    canonical_id=canonical_id,
                    remote_id=record.id,
                    field=problem.field,
                    code=problem.code,
                )
                for problem in item.problems
            ]
        if stored is not None and stored.deleted:
            continue  # deleted everywhere already; a late read does not bring it back
        if stored is not None and connection in gone_from(stored):
            # Gone from here (its delete ignored, archived or parked), yet a live record of it is linked here
            # now: entered again (or restored) and matched, the person is back in this CRM and synced here.
            stored, returned = await bring_back(
                tx,
                stored,
                (connection,),
                reason="entered again",
                resolver=REENTRY_RESOLVER,
                at=now,
                delete=ctx.config.object(kind).delete,
            )
            writes.audit.extend(returned)
            goldens[canonical_id] = writes.goldens[canonical_id] = stored
        held = shadows.setdefault(canonical_id, {})
        current = dict(item.fields)
        coarse, finer = (
            _lossy_images(ctx, kind, connection, current, stored) if connection not in held else (set(), set())
        )
        states = [
            ConnectionState(
                connection,
                current=current,
                shadow=dict(held[connection].fields) if connection in held else None,
                modified_at=record.modified_at,
                coarse=frozenset(coarse),
                finer=frozenset(finer),
            )
        ]
        linked_here = {link.connection for link in links.get(canonical_id, [])} | {connection}
        for other, shadow in held.items():
            if other != connection and other in linked_here:
                states.append(ConnectionState(other, shadow=dict(shadow.fields)))
        # A parked delete-versus-edit (S13) is no field of the record: only a person settles it, never a reconcile.
        parked = [_parked(c) for c in conflicts.get(canonical_id, []) if c.field != DELETED_FIELD]
        with ctx.report.timed("reconcile"):
            result = reconcile(to_merged(stored), states, rules_for_record(rules, stored), parked)
        unread = linked_here - {s.connection for s in states}
        if unread:
            # Linked there but never read (a kept-out record linked to its twin, its read queued): the person is
            # there already, so nothing is created there, and its own read decides what it is written.
            result = replace(result, deltas=tuple(d for d in result.deltas if d.connection not in unread))
        await _store_result(tx, ctx, kind, connection, canonical_id, stored, result, record, now, outcome, writes)
        # A record met twice in one page reconciles the second time against the first outcome.
        if canonical_id in writes.goldens:
            goldens[canonical_id] = writes.goldens[canonical_id]
        if writes.shadows and writes.shadows[-1].canonical_id == canonical_id:
            held[connection] = writes.shadows[-1]
    await _recheck_refused(ctx, tx, kind, writes)
    await writes.flush(tx, connection, object_name)


async def _recheck_refused(ctx: SyncContext, tx: Transaction, kind: ObjectKind, writes: _PageWrites) -> None:
    """A changed record that a CRM refused before is written there again, even with nothing new to write.

    Its golden values may now be what that CRM holds already (a deal moved back from a stage it cannot hold):
    the write's delivery then settles the error, instead of leaving it to the next change written there.
    """
    if not writes.changed:
        return
    changed = sorted(writes.changed)
    queued = {job.key for job in writes.jobs}
    for target in ctx.connections(kind):
        for canonical_id in sorted(await tx.errors.refused(target, ctx.object_name(target, kind), changed)):
            job = write_job(kind, canonical_id, target)
            if job.key not in queued:
                queued.add(job.key)
                writes.jobs.append(job)


async def _store_result(
    tx: Transaction,
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    canonical_id: str,
    stored: StoredGolden | None,
    result: ReconcileResult,
    record: RemoteRecord,
    now: datetime,
    outcome: PageOutcome,
    writes: _PageWrites,
) -> None:
    previous = stored
    reasons = {entry.field: entry.rule for entry in result.audit}
    reasons.update({r.field: r.rule for r in result.resolved})
    if previous is None or result.audit or result.golden.fields.keys() != set(previous.record.fields):
        # The version stays the one read from the database: one versioned write per record and page.
        writes.goldens[canonical_id] = to_stored(canonical_id, kind, result.golden, previous, reasons)
    if result.audit:
        outcome.changed += 1
        if previous is not None:  # a record met for the first time was refused nowhere yet
            writes.changed.add(canonical_id)
        writes.audit.extend(_stored_entry(canonical_id, entry, connection, now) for entry in result.audit)
    shadow = result.shadows.get(connection)
    if shadow is not None:
        writes.shadows.append(Shadow(canonical_id, connection, shadow, version_token=record.version))
    for conflict in result.parked:
        outcome.conflicts += 1
        sides = [ConflictSide(s.connection or "golden", s.value, s.at) for s in conflict.sides]
        await tx.conflicts.park(canonical_id, conflict.field, conflict.base, sides, has_base=conflict.has_base)
    if result.closed:
        open_now = {c.field: c for c in await tx.conflicts.list(canonical_id)}
        for name in result.closed:
            if name in open_now:
                await tx.conflicts.resolve(open_now[name].id, result.golden.value(name), "crmsync (settled)")
    overwritten: set[tuple[str, str]] = set()
    for delta in result.deltas:
        written = set(delta.fields)
        if delta.kind == "update":
            written -= ctx.unchanged_in_target(kind, delta.connection, delta.fields, delta.previous)
            if not written:
                continue  # only values the target holds in its own (coarser) vocabulary already
        overwritten.update((delta.connection, name) for name in written)
        outcome.writes[delta.connection] = outcome.writes.get(delta.connection, 0) + 1
        writes.jobs.append(write_job(kind, canonical_id, delta.connection))
    writes.audit.extend(
        _stored_entry(canonical_id, entry, connection, now, reverted=True)
        for entry in result.reverted
        if (entry.source, entry.field) in overwritten
    )


def _stored_entry(
    canonical_id: str, entry: ReconciledEntry, connection: str, now: datetime, *, reverted: bool = False
) -> AuditEntry:
    """A reconcile's audit entry as stored: its source, else the connection just read; its time, else now."""
    if reverted:
        reason = REVERTED_FIRST_MET if entry.no_base else REVERTED
    else:
        reason = entry.rule + (" (first meeting)" if entry.no_base else "")
    return AuditEntry(
        canonical_id, entry.field, entry.old, entry.new, entry.source or connection, reason, entry.at or now
    )


def _parked(conflict: Conflict) -> ParkedConflict:
    sides = tuple(MergedSide(None if s.connection == "golden" else s.connection, s.value, s.at) for s in conflict.sides)
    return ParkedConflict(conflict.field, conflict.base, conflict.has_base is not False, sides)


async def _queue_tombstones(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    tombstones: Sequence[Tombstone],
    outcome: PageOutcome,
) -> None:
    if not tombstones:
        return
    object_name = ctx.object_name(connection, kind)
    linked = await tx.links.canonical_ids(connection, object_name, [t.id for t in tombstones])
    # A record the filter kept out is gone: no twin met later may be linked to it.
    await tx.kept_out.forget(connection, object_name, [t.id for t in tombstones if t.id not in linked])
    # A record never synced was merged again after another was merged into it: its merge keeps the chain.
    chain = await chained(tx, kind, connection, tombstones, linked)
    for tombstone in tombstones:
        canonical_id = linked.get(tombstone.id)
        if canonical_id is None:
            if tombstone.id in chain:
                await tx.jobs.enqueue(delete_job(kind, connection, None, tombstone))
            continue  # never synced: nothing to propagate
        outcome.deletes += 1
        await tx.jobs.enqueue(delete_job(kind, connection, canonical_id, tombstone))


def _lossy_images(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    current: Mapping[str, CanonicalValue],
    stored: StoredGolden | None,
) -> tuple[set[str], set[str]]:
    """For a record met for the first time: its fields that differ from the golden value only through a lossy
    value map (`ConnectionState.coarse` and `.finer`). Without this, Salesforce's Negotiation/Review met by
    HubSpot's `contractsent` (read as proposal) was a conflict, and under last_writer_wins set Salesforce's stage
    back to Proposal/Price Quote: a value no one chose, made of what HubSpot cannot tell apart."""
    coarse: set[str] = set()
    finer: set[str] = set()
    if stored is None:
        return coarse, finer
    golden = stored.record.fields
    for name, value in current.items():
        held = golden.get(name)
        if name.startswith("@") or value is None or held is None or value == held:
            continue
        if ctx.unchanged_in_target(kind, connection, {name: held}, {name: value}):
            coarse.add(name)
            continue
        origin = stored.provenance.get(name)
        source = origin.connection if origin is not None else None
        finer_here = source is not None and source != connection and source in ctx.config.connections
        if finer_here and ctx.unchanged_in_target(kind, str(source), {name: value}, {name: held}):
            finer.add(name)
    return coarse, finer


__all__ = ["ingest_page"]
