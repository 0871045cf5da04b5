"""Ingest one page of one connection's records: map, identify, reconcile, and store the outcome in one transaction.

The page's effects (links, shadows, golden records, conflicts, audit, outbox rows, sync errors) and
the cursor that follows the page commit together, so a crash replays the page and never skips it
(invariants 1 and 5). Tombstones are queued as delete jobs; the runner decides on them once every
connection of the kind was read (the mass-delete breaker needs the whole run's count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.matching import (
    AwaitParents,
    CreateEntity,
    KnownEntity,
    LinkDuplicate,
    LinkExisting,
    SeenRecord,
    match_incoming,
    uuid5_id,
)
from crmsync.engine.matching_keys import MatchKey, match_key
from crmsync.engine.merge import reconcile
from crmsync.engine.outbox import refetch_job, write_job
from crmsync.engine.reconcile_types import ConnectionState, ReconcileResult
from crmsync.engine.state import LINK_ROLES, SINGLE_SLOT_LINKS, link_field, rules_for_record, to_merged, to_stored
from crmsync.engine.tombstones import DELETED_FIELD, delete_job
from crmsync.mapping import MappingProblem
from crmsync.model.golden import ConflictSide as MergedSide
from crmsync.model.golden import ParkedConflict
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Conflict, ConflictSide, Link, Shadow, SyncErrorReport, Transaction
from crmsync.store import GoldenRecord as StoredGolden


@dataclass(frozen=True, slots=True)
class Incoming:
    """A remote record mapped to canonical values, with its parents resolved to canonical ids."""

    record: RemoteRecord
    fields: dict[str, CanonicalValue]
    problems: tuple[MappingProblem, ...]
    parents: dict[str, tuple[str, ...]]  # role -> remote ids in the record's connection
    unresolved: tuple[tuple[str, str], ...] = ()  # (role, remote id) not linked yet


@dataclass
class PageOutcome:
    """Counts of what one page did, for the run report."""

    seen: int = 0
    created: int = 0
    linked: int = 0
    duplicates: int = 0
    changed: int = 0
    conflicts: int = 0
    waiting: int = 0
    filtered: int = 0
    deletes: int = 0
    errors: int = 0
    writes: dict[str, int] = field(default_factory=dict)


async def ingest_page(
    ctx: SyncContext,
    kind: ObjectKind,
    connection: str,
    upserts: Sequence[RemoteRecord],
    tombstones: Sequence[Tombstone],
    cursor: str | None,
    *,
    complete: Sequence[int] = (),
) -> PageOutcome:
    """Reconcile one page and commit it with the cursor that follows it (or with the refetch jobs it answers)."""
    outcome = PageOutcome(seen=len(upserts) + len(tombstones))
    async with ctx.store.begin() as tx:
        incoming = await _map_page(ctx, tx, kind, connection, upserts)
        ids = await _identify(ctx, tx, kind, connection, incoming, outcome)
        await _reconcile_page(ctx, tx, kind, connection, incoming, ids, outcome)
        await _queue_tombstones(ctx, tx, kind, connection, tombstones, outcome)
        if cursor is not None:
            await tx.cursors.put(connection, ctx.object_name(connection, kind), cursor)
        for job_id in complete:
            await tx.jobs.complete(job_id, ctx.worker)
    return outcome


async def _map_page(
    ctx: SyncContext, tx: Transaction, kind: ObjectKind, connection: str, upserts: Sequence[RemoteRecord]
) -> list[Incoming]:
    vendor = ctx.vendor(connection)
    object_map = ctx.object_map(connection, kind)
    # Parents by role, looked up in one query per role.
    wanted: dict[str, set[str]] = {}
    for record in upserts:
        for role in LINK_ROLES[kind]:
            wanted.setdefault(role, set()).update(record.links.get(role, ()))
    resolved: dict[str, dict[str, str]] = {}
    for role, remote_ids in wanted.items():
        parent_object = ctx.config.mappings.get(vendor, _kind(role)).object
        resolved[role] = await tx.links.canonical_ids(connection, parent_object, sorted(remote_ids))
    out: list[Incoming] = []
    for record in upserts:
        mapped = object_map.map_in(record.fields)
        fields = dict(mapped.fields)
        unresolved: list[tuple[str, str]] = []
        single_slot = (vendor, kind) in SINGLE_SLOT_LINKS and any(record.links.get(r) for r in LINK_ROLES[kind])
        for role in LINK_ROLES[kind]:
            parent_ids = record.links.get(role, ())
            if not parent_ids:
                if not single_slot:
                    fields[link_field(role)] = None
                continue
            canonical = resolved.get(role, {}).get(parent_ids[0])
            if canonical is None:
                # Not linked yet: the relationship is left out (no change) until the parent is synced.
                unresolved.append((role, parent_ids[0]))
            else:
                fields[link_field(role)] = canonical
        parents = {role: tuple(record.links.get(role, ())) for role in LINK_ROLES[kind]}
        out.append(Incoming(record, fields, mapped.problems, parents, tuple(unresolved)))
    return out


async def _identify(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    incoming: Sequence[Incoming],
    outcome: PageOutcome,
) -> dict[str, str | None]:
    """Remote id → canonical id for every record of the page (None: skipped this time)."""
    object_name = ctx.object_name(connection, kind)
    linked = await tx.links.canonical_ids(connection, object_name, [i.record.id for i in incoming])
    ids: dict[str, str | None] = dict(linked)
    specs = ctx.match_specs(kind)
    record_filter = ctx.config.object(kind).filter
    claimed: dict[str, KnownEntity] = {}  # keys claimed earlier in this page

    absorbed = await tx.links.canonical_ids(
        connection, object_name, sorted({m for i in incoming for m in i.record.merged_ids if m != i.record.id})
    )
    for item in incoming:
        record = item.record
        if record.id in linked:
            await _absorb(tx, kind, connection, record, linked[record.id], absorbed)
            continue
        merged_into = await _merged_canonical(tx, connection, item, absorbed)
        if merged_into is not None:
            # A vendor merge gave the survivor a new id (HubSpot): it stands for what it absorbed.
            await tx.links.link(Link(merged_into, kind, connection, object_name, record.id))
            ids[record.id] = merged_into
            outcome.linked += 1
            await _absorb(tx, kind, connection, record, merged_into, absorbed)
            continue
        if not record_filter.matches(item.fields):
            ids[record.id] = None
            outcome.filtered += 1
            continue
        parent_ids = {
            (role, rid): canonical
            for role in LINK_ROLES[kind]
            if (canonical := item.fields.get(link_field(role))) is not None and isinstance(canonical, str)
            for rid in item.parents.get(role, ())[:1]
        }
        seen = SeenRecord(connection, kind, record.id, item.fields, item.parents, None, record.modified_at)
        keys_found: dict[str, KnownEntity | None] = {}

        def find(key: MatchKey, cache: dict[str, KnownEntity | None] = keys_found) -> KnownEntity | None:
            return claimed.get(key.text) or cache.get(key.text)

        # Look the record's key up first (the matcher itself is pure and synchronous).
        key = match_key(kind, specs, item.fields, {role: _ids(item, role) for role in LINK_ROLES[kind]})
        if key is not None and key.text not in claimed:
            found = await tx.keys.find(kind, [key.text])
            if key.text in found:
                canonical_id = found[key.text]
                members = {
                    link.connection: link.remote_id for link in reversed(await tx.links.remote_links(canonical_id))
                }
                keys_found[key.text] = KnownEntity(canonical_id, members)
        taken = await _taken_ids(tx, key)
        decision = match_incoming(
            seen,
            find,
            {kind: specs},
            resolve_parent=partial(_known_parent, parent_ids),
            id_taken=taken.__contains__,
            wait_for_parents=True,
        )
        if isinstance(decision, AwaitParents):
            ids[record.id] = None
            outcome.waiting += 1
            await tx.jobs.enqueue(refetch_job(kind, connection, object_name, record.id, reason="awaiting parent"))
            continue
        if isinstance(decision, LinkDuplicate):
            ids[record.id] = None
            outcome.duplicates += 1
            await tx.links.link(Link(decision.canonical_id, kind, connection, object_name, record.id))
            await tx.errors.record(
                SyncErrorReport(
                    connection=connection,
                    object=object_name,
                    operation="link",
                    message=(
                        f"duplicate {kind} in {connection}: {record.id} has the same {decision.key.spec} as "
                        f"{decision.survivor}, which stays the one crmsync syncs; merge them in {connection}"
                    ),
                    canonical_id=decision.canonical_id,
                    remote_id=record.id,
                    code="DUPLICATE",
                )
            )
            continue
        if isinstance(decision, LinkExisting):
            canonical_id = decision.canonical_id
            outcome.linked += 1
        else:
            assert isinstance(decision, CreateEntity)
            canonical_id = decision.canonical_id
            outcome.created += 1
            if decision.key is not None:
                await tx.keys.claim(kind, decision.key.text, canonical_id)
        await tx.links.link(Link(canonical_id, kind, connection, object_name, record.id))
        if key is not None:
            members = dict(claimed[key.text].members) if key.text in claimed else {}
            if key.text in keys_found and keys_found[key.text] is not None:
                members = {**dict(keys_found[key.text].members), **members}  # type: ignore[union-attr]
            members.setdefault(connection, record.id)
            claimed[key.text] = KnownEntity(canonical_id, members)
        ids[record.id] = canonical_id
    return ids


async def _merged_canonical(
    tx: Transaction, connection: str, item: Incoming, absorbed: Mapping[str, str]
) -> str | None:
    """The canonical record a merge survivor takes over: of those it absorbed, the one whose values it carries.

    A merge keeps the primary record's values, so the absorbed record whose shadow agrees with the
    survivor on most fields was the primary; ties go to the smallest canonical id (deterministic).
    """
    candidates = sorted({absorbed[m] for m in item.record.merged_ids if m in absorbed})
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    shadows = await tx.shadows.get_many(candidates)

    def agreement(canonical_id: str) -> int:
        shadow = shadows.get(canonical_id, {}).get(connection)
        known = shadow.fields if shadow is not None else {}
        return sum(1 for name, value in item.fields.items() if name in known and known[name] == value)

    return max(candidates, key=lambda c: (agreement(c), [-ord(ch) for ch in c]))


async def _absorb(
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    record: RemoteRecord,
    canonical_id: str,
    absorbed: Mapping[str, str],
) -> None:
    """Ids a survivor absorbed: the same record's old ids are unlinked now; another record's go to the merge job."""
    for merged_id in record.merged_ids:
        if merged_id == record.id or merged_id not in absorbed:
            continue
        object_name = record.object
        if absorbed[merged_id] == canonical_id:
            await tx.links.unlink(connection, object_name, merged_id)
        else:
            tombstone = Tombstone(object_name, merged_id, merged_into=record.id)
            await tx.jobs.enqueue(delete_job(kind, connection, absorbed[merged_id], tombstone))


def _known_parent(known: Mapping[tuple[str, str], str], connection: str, role: str, remote_id: str) -> str | None:
    return known.get((role, remote_id))


async def _taken_ids(tx: Transaction, key: MatchKey | None) -> set[str]:
    # The key's deterministic id may belong to a record whose key has changed since: it is taken then.
    if key is None:
        return set()
    return set(await tx.records.get_many([uuid5_id(key.text)]))


def _ids(item: Incoming, role: str) -> tuple[str, ...] | None:
    value = item.fields.get(link_field(role))
    if isinstance(value, str):
        return (value,)
    if item.parents.get(role):
        return None  # a parent exists but is not linked yet
    return ()


async def _reconcile_page(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    incoming: Sequence[Incoming],
    ids: Mapping[str, str | None],
    outcome: PageOutcome,
) -> None:
    targets = sorted({cid for cid in ids.values() if cid is not None})
    goldens = await tx.records.get_many(targets)
    shadows = await tx.shadows.get_many(targets)
    conflicts = await tx.conflicts.open_for(targets)
    links = await tx.links.links_of(targets)
    rules = ctx.rules(kind)
    object_name = ctx.object_name(connection, kind)
    now = ctx.clock()
    for item in incoming:
        record = item.record
        canonical_id = ids.get(record.id)
        if canonical_id is None:
            continue
        survivor = next((link.remote_id for link in links.get(canonical_id, []) if link.connection == connection), None)
        if survivor is not None and survivor != record.id:
            continue  # a duplicate: only the survivor's values count
        for problem in item.problems:
            outcome.errors += 1
            await tx.errors.record(
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
            )
        stored = goldens.get(canonical_id)
        if stored is not None and stored.deleted:
            continue  # deleted everywhere already; a late read does not bring it back
        held = shadows.get(canonical_id, {})
        current = dict(item.fields)
        states = [
            ConnectionState(
                connection,
                current=current,
                shadow=dict(held[connection].fields) if connection in held else None,
                modified_at=record.modified_at,
            )
        ]
        linked_here = {link.connection for link in links.get(canonical_id, [])} | {connection}
        for other, shadow in held.items():
            if other != connection and other in linked_here:
                states.append(ConnectionState(other, shadow=dict(shadow.fields)))
        # A parked delete-versus-edit (S13) is no field of the record: only a person settles it, never a reconcile.
        parked = [_parked(c) for c in conflicts.get(canonical_id, []) if c.field != DELETED_FIELD]
        result = reconcile(to_merged(stored), states, rules_for_record(rules, stored), parked)
        await _store_result(tx, ctx, kind, connection, canonical_id, stored, result, record, now, outcome)


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
) -> None:
    previous = stored
    reasons = {entry.field: entry.rule for entry in result.audit}
    reasons.update({r.field: r.rule for r in result.resolved})
    if previous is None or result.audit or result.golden.fields.keys() != set(previous.record.fields):
        await tx.records.put(to_stored(canonical_id, kind, result.golden, previous, reasons))
    if result.audit:
        outcome.changed += 1
        await tx.audit.append(
            [
                AuditEntry(
                    canonical_id=canonical_id,
                    field=entry.field,
                    old=entry.old,
                    new=entry.new,
                    connection=entry.source or connection,
                    reason=entry.rule + (" (first meeting)" if entry.no_base else ""),
                    at=entry.at or now,
                )
                for entry in result.audit
            ]
        )
    shadow = result.shadows.get(connection)
    if shadow is not None:
        await tx.shadows.put(Shadow(canonical_id, connection, shadow, version_token=record.version))
    for conflict in result.parked:
        outcome.conflicts += 1
        sides = [ConflictSide(s.connection or "golden", s.value, s.at) for s in conflict.sides]
        await tx.conflicts.park(canonical_id, conflict.field, conflict.base, sides)
    if result.closed:
        open_now = {c.field: c for c in await tx.conflicts.list(canonical_id)}
        for name in result.closed:
            if name in open_now:
                await tx.conflicts.resolve(open_now[name].id, result.golden.value(name), "crmsync (settled)")
    for delta in result.deltas:
        if delta.kind == "update" and not set(delta.fields) - ctx.unchanged_in_target(
            kind, delta.connection, delta.fields, delta.previous
        ):
            continue  # only values the target holds in its own (coarser) vocabulary already
        outcome.writes[delta.connection] = outcome.writes.get(delta.connection, 0) + 1
        await tx.jobs.enqueue(write_job(kind, canonical_id, delta.connection))


def _parked(conflict: Conflict) -> ParkedConflict:
    sides = tuple(MergedSide(None if s.connection == "golden" else s.connection, s.value, s.at) for s in conflict.sides)
    return ParkedConflict(conflict.field, conflict.base, True, sides)


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
    for tombstone in tombstones:
        canonical_id = linked.get(tombstone.id)
        if canonical_id is None:
            continue  # never synced: nothing to propagate
        outcome.deletes += 1
        await tx.jobs.enqueue(delete_job(kind, connection, canonical_id, tombstone))


def _kind(role: str) -> ObjectKind:
    if role == "company":
        return "company"
    if role == "contact":
        return "contact"
    if role == "deal":
        return "deal"
    raise ValueError(f"unknown link role {role!r}")


__all__ = ["Incoming", "PageOutcome", "ingest_page"]
