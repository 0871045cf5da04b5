"""One record's story for `crmsync explain`: each field's value, where it came from and what each connection holds."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from crmsync.config import SyncConfig
from crmsync.connectors.ids import id_spellings
from crmsync.engine.reentry import DELETED_FIELD
from crmsync.engine.state import (
    FORMER_ID_FIELD,
    MERGED_FROM_FIELD,
    MERGED_INTO_FIELD,
    gone_from,
    rules_for_record,
    survivor_of,
)
from crmsync.engine.views.common import WRITE_OPERATIONS, NotFoundError, OperatorError, label
from crmsync.engine.views.conflicts import ConflictView, conflict_view
from crmsync.engine.views.deletes import DeleteStep, delete_story
from crmsync.engine.views.errors import SyncErrorView, error_view
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Link, Store, Transaction
from crmsync.store.codec import decode_value
from crmsync.store.tables import FORMER_IDS, audit, links

ShadowState = Literal["same", "differs", "pending", "withheld", "failed", "not_written", "not_mapped", "absent", "gone"]
"""How a connection's copy of a field stands against the golden value:
`same`; `differs` with nothing queued; `pending` a write is queued or running; `withheld` by an open
conflict; `failed` its write is dead-lettered or errored; `not_written` by the field's direction or
`unless_blank`; `not_mapped` by that connection; `absent` the connection holds no copy of the record;
`gone` the record was deleted there and is kept out of it (delete policy `ignore` or `archive`)."""


@dataclass(frozen=True, slots=True)
class ShadowValue:
    """One connection's last known value of a field, and how it stands against the golden value."""

    connection: str
    value: CanonicalValue
    state: ShadowState


@dataclass(frozen=True, slots=True)
class FieldExplanation:
    """Why a field has its value: where it came from, when, by which rule, and what each connection holds."""

    field: str
    value: CanonicalValue
    in_golden: bool  # False: only a connection or a conflict knows the field yet
    source: str | None  # the connection the value came from (None: a person, or unknown)
    at: datetime | None
    rule: str  # the provenance reason: change, agreed, last_writer_wins, prefer, unless_blank, manual, withdrawn
    shadows: tuple[ShadowValue, ...]
    conflicts: tuple[ConflictView, ...]
    history: tuple[AuditEntry, ...]  # the latest few changes, oldest first


@dataclass(frozen=True, slots=True)
class Deletion:
    """How a record deleted everywhere went: the delete crmsync spread, from the audit's `@deleted` entry."""

    connection: str  # where it was deleted (or who decided, for a parked delete settled by a person)
    reason: str  # the delete policy or resolution: propagate, delete_wins, manual
    at: datetime


@dataclass(frozen=True, slots=True)
class FormerId:
    """A remote id the record had in a connection until it was deleted (or merged away) there."""

    connection: str
    remote_id: str
    at: datetime
    reason: str = ""  # how it went: the delete's reason, or `merged away` by a vendor merge


@dataclass(frozen=True, slots=True)
class MergedInto:
    """The record a vendor merge folded this one into: the person lives on there."""

    canonical_id: str
    connection: str  # the CRM whose merge it was
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordExplanation:
    """One canonical record: its links, every field's story, its pending writes and its sync errors."""

    canonical_id: str
    kind: ObjectKind
    label: str | None
    stored: bool  # False: linked but no golden record stored yet
    deleted: bool
    version: int
    updated_at: datetime | None
    links: tuple[Link, ...]
    gone: tuple[str, ...]  # connections the record was deleted in and is no longer written to
    fields: tuple[FieldExplanation, ...]
    writes: Mapping[str, str]  # connection → status of its latest live or dead write job
    errors: tuple[SyncErrorView, ...]
    deletion: Deletion | None = None  # set when the record is deleted everywhere
    former_ids: tuple[FormerId, ...] = ()  # ids unlinked because the record was deleted there, oldest first
    merged_into: MergedInto | None = None  # set when a vendor merge retired this record into another
    deletes: tuple[DeleteStep, ...] = ()  # each delete read from a CRM and what became of it, oldest first


async def find_record(tx: Transaction, kind: ObjectKind, ident: str) -> str:
    """The canonical id behind `ident`: a canonical id itself, or any connection's remote id of that kind.

    Each spelling of the id a person may paste counts (`id_spellings`: a 15-character Salesforce id is its 18).
    A remote id whose link is gone because the record was deleted there still leads to the record (`FORMER_ID_FIELD`).
    """
    forms = id_spellings(ident)
    for form in forms:
        found = await _find(tx, kind, form)
        if found is not None:
            return found
    for form in forms:
        found = await _former(tx, kind, form)
        if found is not None:
            return await _merged_survivor(tx, found)
    raise NotFoundError(f"no {kind} with canonical or remote id {ident!r}")


async def _find(tx: Transaction, kind: ObjectKind, ident: str) -> str | None:
    golden = await tx.records.get(ident)
    if golden is not None and golden.record.kind == kind:
        return ident
    result = await tx.connection.execute(
        sa.select(links.c.canonical_id, links.c.connection)
        .where(links.c.remote_id == ident, links.c.kind == kind)
        .order_by(links.c.connection)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for canonical_id, connection in result:
        found[canonical_id].append(connection)
    if len(found) == 1:
        return next(iter(found))
    if found:
        where = "; ".join(f"{cid} (in {', '.join(names)})" for cid, names in sorted(found.items()))
        raise OperatorError(f"{ident!r} is a {kind} id in several connections: {where}; give the canonical id")
    if golden is not None:
        raise NotFoundError(f"{ident!r} is a {golden.record.kind}, not a {kind}")
    if await tx.links.remote_links(ident):
        return ident
    return None


def former_id_query(ident: str) -> sa.Select[tuple[str, Any]]:
    """The `@remote_id` audit entries noting `ident`, latest first, found through `ix_audit_former_id`.

    An equality on the entry's JSON text (the index's expression, under the index's own predicate as a literal):
    the substring match it replaces scanned the whole audit. The text is the id as the store's serializer (orjson)
    writes it, or as the standard library's would (`\\u` escapes), whichever wrote the entry.
    """
    texts = sorted({orjson.dumps(ident).decode(), json.dumps(ident)})
    return (
        sa.select(audit.c.canonical_id, audit.c.old)
        .where(sa.text(FORMER_IDS), sa.cast(audit.c.old, sa.Text).in_(texts))
        .order_by(audit.c.id.desc())
    )


async def _former(tx: Transaction, kind: ObjectKind, ident: str) -> str | None:
    """The record `ident` was a remote id of until it was deleted there, the latest such if several."""
    result = await tx.connection.execute(former_id_query(ident))
    for canonical_id, old in result.all():
        if decode_value(old) != ident:
            continue  # not an id as the audit notes it (the text match is exact: never expected)
        golden = await tx.records.get(canonical_id)
        if golden is None or golden.record.kind == kind:
            return str(canonical_id)
    return None


async def _merged_survivor(tx: Transaction, canonical_id: str) -> str:
    """The record a former id's person lives on in: a record a vendor merge retired leads to the one it was folded
    into (the id may have gone with the retired record, before the merge folded it), along a chain of merges."""
    return await survivor_of(tx, canonical_id) or canonical_id


def _deletion(entries: Sequence[AuditEntry]) -> Deletion | None:
    """The delete that took the record out everywhere: the latest `@deleted` entry that set it."""
    deletes = [e for e in entries if e.field == DELETED_FIELD and e.new is True]
    return Deletion(deletes[-1].connection, deletes[-1].reason, deletes[-1].at) if deletes else None


async def explain_record(
    store: Store, config: SyncConfig, kind: ObjectKind, ident: str, *, history: int = 3
) -> RecordExplanation:
    """Everything the store knows about one record, field by field; OperatorError if not found."""
    async with store.read() as tx:
        canonical_id = await find_record(tx, kind, ident)
        golden = await tx.records.get(canonical_id)
        record_links = await tx.links.remote_links(canonical_id)
        shadows = await tx.shadows.get_all(canonical_id)
        open_conflicts = await tx.conflicts.list(canonical_id)
        entries = await tx.audit.list(canonical_id)
        former = [e for e in entries if e.field == FORMER_ID_FIELD and e.old]
        for folded in [e.new for e in entries if e.field == MERGED_FROM_FIELD and isinstance(e.new, str)]:
            # Ids that went with a record a vendor merge folded into this one are the person's too.
            former += [e for e in await tx.audit.list(folded) if e.field == FORMER_ID_FIELD and e.old]
        connections = sorted({*shadows, *(link.connection for link in record_links), *_synced(config, kind)})
        remote = {(link.connection, link.remote_id) for link in record_links}
        errors = await tx.errors.about(canonical_id, remote)
        deletes = await delete_story(tx, kind, canonical_id, entries, record_links, open_conflicts)
        writes: dict[str, str] = {}
        for connection in connections:
            latest = [j for j in await tx.jobs.list(key=f"{connection}/{canonical_id}") if j.status != "done"]
            if latest:
                writes[connection] = latest[-1].status
    record_errors = tuple(error_view(e, config) for e in errors)
    rules = rules_for_record(config.objects[kind].rules, golden) if kind in config.objects else None
    gone = gone_from(golden)
    golden_values = golden.record.fields if golden is not None else {}
    shadow_names = {name for shadow in shadows.values() for name in shadow.fields}
    names = sorted({*golden_values, *(c.field for c in open_conflicts), *shadow_names})
    failed = {e.connection for e in record_errors if e.operation in WRITE_OPERATIONS}
    failed |= {c for c, status in writes.items() if status == "dead"}
    pending = {c for c, status in writes.items() if status in ("pending", "running")}
    conflict_fields = {c.field for c in open_conflicts}
    fields = []
    for name in names:
        origin = golden.provenance.get(name) if golden is not None else None
        value = golden_values.get(name)
        shadow_values = tuple(
            ShadowValue(
                connection,
                shadows[connection].fields.get(name) if connection in shadows else None,
                _shadow_state(
                    name,
                    value,
                    connection,
                    shadows[connection].fields if connection in shadows else None,
                    rules,
                    withheld=name in conflict_fields,
                    held_as_golden=connection in shadows
                    and _held_as_golden(config, kind, connection, name, value, shadows[connection].fields),
                    gone=connection in gone,
                    pending=connection in pending,
                    failed=connection in failed,
                ),
            )
            for connection in connections
        )
        fields.append(
            FieldExplanation(
                field=name,
                value=value,
                in_golden=name in golden_values,
                source=origin.connection if origin else None,
                at=origin.at if origin else None,
                rule=origin.reason if origin else "",
                shadows=shadow_values,
                conflicts=tuple(conflict_view(c, golden) for c in open_conflicts if c.field == name),
                history=tuple([e for e in entries if e.field == name][-history:] if history > 0 else ()),
            )
        )
    return RecordExplanation(
        canonical_id=canonical_id,
        kind=golden.record.kind if golden is not None else kind,
        label=label(golden),
        stored=golden is not None,
        deleted=golden.deleted if golden is not None else False,
        version=golden.version if golden is not None else 0,
        updated_at=golden.updated_at if golden is not None else None,
        links=tuple(record_links),
        gone=gone,
        fields=tuple(fields),
        writes=writes,
        errors=record_errors,
        deletion=_deletion(entries) if golden is not None and golden.deleted else None,
        former_ids=tuple(
            FormerId(e.connection, str(e.old), e.at, e.reason) for e in sorted(former, key=lambda e: e.at)
        ),
        merged_into=_merged_into(entries) if golden is not None and golden.deleted else None,
        deletes=deletes,
    )


def _merged_into(entries: Sequence[AuditEntry]) -> MergedInto | None:
    """The record a vendor merge folded this one into: the latest `@merged_into` entry."""
    merges = [e for e in entries if e.field == MERGED_INTO_FIELD and e.new]
    return MergedInto(str(merges[-1].new), merges[-1].connection, merges[-1].at) if merges else None


def _synced(config: SyncConfig, kind: ObjectKind) -> Sequence[str]:
    return config.objects[kind].connections if kind in config.objects else ()


def _held_as_golden(
    config: SyncConfig,
    kind: ObjectKind,
    connection: str,
    name: str,
    golden: CanonicalValue,
    shadow: Mapping[str, CanonicalValue],
) -> bool:
    """Whether the connection holds the golden value as its lossy value map writes it (HubSpot's `contractsent`,
    read as proposal, for negotiation): delivery writes nothing there, so the copy is the same, not one that
    differs with nothing queued."""
    held = shadow.get(name)
    if held == golden or held is None or golden is None or name.startswith("@") or connection not in config.connections:
        return False
    vendor = config.connections[connection].vendor
    if not config.mappings.has(vendor, kind):
        return False
    return config.mappings.settle(vendor, kind, {name: golden}).get(name) == held


def _shadow_state(
    name: str,
    golden: CanonicalValue,
    connection: str,
    shadow: Mapping[str, CanonicalValue] | None,
    rules: SyncRules | None,
    *,
    withheld: bool,
    gone: bool,
    pending: bool,
    failed: bool,
    held_as_golden: bool = False,
) -> ShadowState:
    if gone:
        return "gone"
    if shadow is None:
        return "pending" if pending else "absent"
    if rules is not None and not rules.maps(connection, name, shadow):
        return "not_mapped"
    if shadow.get(name) == golden or held_as_golden:
        return "same"
    if withheld:
        return "withheld"
    if rules is not None and not rules.direction_for(name).writes_to(connection):
        return "not_written"
    if rules is not None and golden is None and rules.policy_for(name).unless_blank:
        return "not_written"
    if pending:
        return "pending"
    if failed:
        return "failed"
    return "differs"


__all__ = [
    "DeleteStep",
    "Deletion",
    "FieldExplanation",
    "FormerId",
    "RecordExplanation",
    "ShadowState",
    "ShadowValue",
    "explain_record",
    "find_record",
]
