"""Identify one page's records: each remote id linked to its canonical record, matched to one, or skipped for now."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

from crmsync.connectors.base import RemoteRecord, Tombstone
from crmsync.engine.context import SyncContext
from crmsync.engine.ingest_types import Incoming, PageOutcome
from crmsync.engine.kept_out import link_twins, remember
from crmsync.engine.matching import (
    AwaitParents,
    CreateEntity,
    KnownEntity,
    LinkDuplicate,
    LinkExisting,
    SeenRecord,
    keyless_seed,
    match_incoming,
    uuid5_id,
)
from crmsync.engine.matching_keys import MatchKey, match_key
from crmsync.engine.merges import absorb, report_duplicate
from crmsync.engine.outbox import await_job, refetch_job, write_kind
from crmsync.engine.state import LINK_ROLES, link_field
from crmsync.engine.tombstones import delete_job
from crmsync.model.values import ObjectKind
from crmsync.store import Link, NewJob, Transaction

ECHO_WAIT = timedelta(seconds=2)
"""How long a record that may be crmsync's own create, not yet recorded, waits before it is read again."""
ECHO_WINDOW = timedelta(seconds=30)
"""Only a record changed this recently can be a create still being recorded: an older one waits no more (a busy
CRM always has writes in flight, and a new record there must not wait for ever)."""


async def identify(
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    incoming: Sequence[Incoming],
    outcome: PageOutcome,
) -> dict[str, str | None]:
    """Remote id → canonical id for every record of the page (None: skipped this time).

    Lookups are made for the whole page up front and new links, keys and jobs written in bulk at
    the end: per-record statements would dominate a full sync's time.
    """
    object_name = ctx.object_name(connection, kind)
    linked = await tx.links.canonical_ids(connection, object_name, [i.record.id for i in incoming])
    ids: dict[str, str | None] = dict(linked)
    specs = ctx.match_specs(kind)
    record_filter = ctx.config.object(kind).filter
    claimed: dict[str, KnownEntity] = {}  # keys met earlier in this page
    new_links: list[Link] = []
    new_keys: dict[str, str] = {}
    new_jobs: list[NewJob] = []
    kept: dict[str, str] = {}  # remote id → key, of the records the filter keeps out

    absorbed = await tx.links.canonical_ids(
        connection, object_name, sorted({m for i in incoming for m in i.record.merged_ids if m != i.record.id})
    )
    unlinked = [item for item in incoming if item.record.id not in linked]
    keys = {
        item.record.id: match_key(kind, specs, item.fields, {role: _ids(item, role) for role in LINK_ROLES[kind]})
        for item in unlinked
    }
    # Which key ids are taken is asked before which keys are known: a record and its key are committed together, so
    # a record seen here has its key seen below. Asked after (PostgreSQL reads each statement afresh), a person
    # another pass stored in between had their id "taken" with no key known, and got a second canonical record.
    taken = await tx.records.existing(sorted({uuid5_id(k.text) for k in keys.values() if k is not None}))
    known = await _known_entities(tx, kind, sorted({k.text for k in keys.values() if k is not None}))
    await _meet_creates_settled(tx, connection, known)
    # crmsync's own ids, carried in the connection's external-id field by the records crmsync created there,
    # and each record's keyless id: with them a state started afresh (lost, or restored from a backup)
    # finds the canonical records again instead of creating every unkeyed record once more.
    external = ctx.external_id(connection, kind)
    carried = {item.record.id: cid for item in unlinked if (cid := carried_id(item.record.fields, external))}
    own = {item.record.id: uuid5_id(keyless_seed(kind, connection, item.record.id)) for item in unlinked}
    claimants = sorted(set(carried.values()) | set(own.values()))
    live = await tx.records.live(kind, claimants)
    # Without crmsync's id in the CRM, a record crmsync created there is known by its link alone, written when the
    # create is recorded. Its webhook can come first (another worker is still recording it): a record with no match
    # key read then may be that create, and is read again shortly rather than made anew in every other CRM.
    echo_possible = (
        external is None
        and any(key is None for key in keys.values())
        and await tx.jobs.in_flight(write_kind(kind, connection))
    )
    stored = await tx.records.existing(sorted(set(carried.values())))
    here = {cid: found[0].remote_id for cid, found in (await tx.links.links_of(sorted(live), connection)).items()}

    def find_key(key: MatchKey) -> KnownEntity | None:
        return claimed.get(key.text) or known.get(key.text)

    for item in incoming:
        record = item.record
        if record.id in linked:
            if record.merged_ids:
                await _absorb(ctx, tx, kind, connection, record, linked[record.id], absorbed)
            continue
        merged_into = await _merged_canonical(tx, connection, item, absorbed) if record.merged_ids else None
        if merged_into is not None:
            # A vendor merge gave the survivor a new id (HubSpot): it stands for what it absorbed, and takes the
            # place of what it absorbed (linked by `_absorb`, not as the youngest link of the page).
            ids[record.id] = merged_into
            outcome.linked += 1
            await _absorb(ctx, tx, kind, connection, record, merged_into, absorbed)
            continue
        if not record_filter.matches(item.fields) and not _synced_twin(keys[record.id], find_key):
            ids[record.id] = None
            outcome.filtered += 1
            if (kept_key := keys[record.id]) is not None:
                kept[record.id] = kept_key.text
            continue
        parent_ids = {
            (role, rid): canonical
            for role in LINK_ROLES[kind]
            if (canonical := item.fields.get(link_field(role))) is not None and isinstance(canonical, str)
            for rid in item.parents.get(role, ())[:1]
        }
        seen = SeenRecord(connection, kind, record.id, item.fields, item.parents, None, record.modified_at)
        key = keys[record.id]
        reclaimed = next(
            (cid for cid in (carried.get(record.id), own[record.id]) if cid in live and cid not in here), None
        )
        if reclaimed is not None:
            # The counterpart of a canonical record this connection has no record of: crmsync created it here
            # (it carries crmsync's id), or its counterparts elsewhere carry the id crmsync gave it.
            here[reclaimed] = record.id
            outcome.linked += 1
            new_links.append(Link(reclaimed, kind, connection, object_name, record.id))
            if key is not None and find_key(key) is None:
                new_keys[key.text] = reclaimed
                claimed[key.text] = KnownEntity(reclaimed, {connection: record.id})
            ids[record.id] = reclaimed
            continue

        decision = match_incoming(
            seen,
            find_key,
            {kind: specs},
            resolve_parent=partial(_known_parent, parent_ids),
            id_taken=lambda candidate: candidate in taken or candidate in new_keys.values(),
            wait_for_parents=True,
        )
        if isinstance(decision, AwaitParents):
            ids[record.id] = None
            outcome.waiting += 1
            new_jobs.append(await_job(kind, connection, object_name, record.id))
            ctx.waiting.add((connection, object_name, record.id))
            continue
        if isinstance(decision, LinkDuplicate):
            ids[record.id] = None
            outcome.duplicates += 1
            new_links.append(Link(decision.canonical_id, kind, connection, object_name, record.id))
            await report_duplicate(
                tx,
                connection,
                object_name,
                decision.canonical_id,
                record.id,
                f"duplicate {kind} in {connection}: {record.id} has the same {decision.key.spec} as "
                f"{decision.survivor}, which stays the one crmsync syncs; merge them in {connection}",
            )
            continue
        if isinstance(decision, LinkExisting):
            canonical_id = decision.canonical_id
            outcome.linked += 1
        else:
            assert isinstance(decision, CreateEntity)
            wanted = carried.get(record.id)
            if wanted is not None and wanted not in stored and wanted not in here and wanted not in new_keys.values():
                # Created by crmsync from a canonical record this state has not met (yet): it keeps that id,
                # so the record it was created from finds it again by its own keyless id or its key.
                decision = replace(decision, canonical_id=wanted)
            elif decision.key is None and echo_possible and record.modified_at >= ctx.clock() - ECHO_WINDOW:
                ids[record.id] = None
                outcome.waiting += 1
                again = refetch_job(kind, connection, object_name, record.id, reason="a write to this CRM in flight")
                new_jobs.append(replace(again, run_after=ctx.clock() + ECHO_WAIT))
                continue
            elif decision.key is None and specs:
                outcome.keyless += 1  # nothing can match it: it is created in every other CRM
            canonical_id = decision.canonical_id
            outcome.created += 1
            if decision.key is not None:
                new_keys[decision.key.text] = canonical_id
        new_links.append(Link(canonical_id, kind, connection, object_name, record.id))
        here.setdefault(canonical_id, record.id)
        if key is not None:
            before = claimed.get(key.text) or known.get(key.text)
            members = dict(before.members) if before is not None else {}
            members.setdefault(connection, record.id)
            claimed[key.text] = KnownEntity(canonical_id, members)
        ids[record.id] = canonical_id
    await tx.links.link_many(new_links)
    await tx.keys.claim_many(kind, new_keys)
    await tx.jobs.enqueue_many(new_jobs)
    await remember(tx, kind, connection, object_name, [item.record.id for item in unlinked], kept)
    await link_twins(ctx, tx, kind, connection, new_keys)
    return ids


def _synced_twin(key: MatchKey | None, find_key: Callable[[MatchKey], KnownEntity | None]) -> bool:
    """Whether a record the filter keeps out has a twin that passed it: the person syncs, so this record is
    met like any other (linked, or reported as a duplicate) instead of being created again in its own CRM."""
    return key is not None and find_key(key) is not None


async def _meet_creates_settled(tx: Transaction, connection: str, known: dict[str, KnownEntity]) -> None:
    """Known records with no record in `connection` yet: locked, then their links there read again.

    A create of the same person there may be settling meanwhile (crmsync created it from the person's record in
    another CRM while this one was being read). Its settle locks the record's row before it looks for a link here
    (`Settled.look_before_creates`): whichever comes second sees the other's link, so the record read here is a
    duplicate of the created one, or the created one of this, and never are both linked as the one synced.
    """
    absent = sorted({entity.canonical_id for entity in known.values() if connection not in entity.members})
    if not absent:
        return
    await tx.records.lock(absent)
    found = await tx.links.links_of(absent, connection)
    for key, entity in list(known.items()):
        held = found.get(entity.canonical_id)
        if held and connection not in entity.members:
            known[key] = KnownEntity(entity.canonical_id, {**entity.members, connection: held[0].remote_id})


async def _known_entities(tx: Transaction, kind: ObjectKind, keys: list[str]) -> dict[str, KnownEntity]:
    """key text → the canonical record holding it and its survivor in each connection."""
    found = await tx.keys.find(kind, keys)
    held = await tx.links.links_of(sorted(set(found.values())))
    entities: dict[str, KnownEntity] = {}
    for key, canonical_id in found.items():
        members: dict[str, str] = {}
        for link in held.get(canonical_id, []):  # oldest first: the first per connection is its survivor
            members.setdefault(link.connection, link.remote_id)
        entities[key] = KnownEntity(canonical_id, members)
    return entities


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
    ctx: SyncContext,
    tx: Transaction,
    kind: ObjectKind,
    connection: str,
    record: RemoteRecord,
    canonical_id: str,
    absorbed: Mapping[str, str],
) -> None:
    """Ids a survivor absorbed: its own canonical record's go now (`merges.absorb`), another's to the merge job."""
    own = [m for m in record.merged_ids if m != record.id and absorbed.get(m) == canonical_id]
    await absorb(ctx, tx, kind, connection, canonical_id, record.id, own)
    for merged_id in record.merged_ids:
        if merged_id == record.id or merged_id not in absorbed or merged_id in own:
            continue
        tombstone = Tombstone(record.object, merged_id, merged_into=record.id)
        await tx.jobs.enqueue(delete_job(kind, connection, absorbed[merged_id], tombstone))


def carried_id(fields: Mapping[str, Any], external: str | None) -> str | None:
    """The canonical id a record carries in its external-id field, when it is one crmsync could have written."""
    value = fields.get(external) if external else None
    if not isinstance(value, str):
        return None
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None


def _known_parent(known: Mapping[tuple[str, str], str], connection: str, role: str, remote_id: str) -> str | None:
    return known.get((role, remote_id))


def _ids(item: Incoming, role: str) -> tuple[str, ...] | None:
    value = item.fields.get(link_field(role))
    if isinstance(value, str):
        return (value,)
    if item.parents.get(role):
        return None  # a parent exists but is not linked yet
    return ()


__all__ = ["carried_id", "identify"]
