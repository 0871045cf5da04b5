"""Apply an operator's decision on a parked conflict to the state store (failed work: `retrying`).

It acts in one store transaction and only queues work: the next `crmsync sync` (or a worker) delivers
the writes, recomputing golden − shadow when it runs (the outbox convention, `engine.outbox`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from crmsync.config import SyncConfig
from crmsync.engine.merge import Choice, resolve_conflict
from crmsync.engine.outbox import write_job
from crmsync.engine.reconcile_types import ConnectionState
from crmsync.engine.resolution_checks import GOLDEN_SIDE, check_typed_value
from crmsync.engine.state import rules_for_record, to_merged, to_stored, without_gone
from crmsync.engine.tombstones import DELETED_FIELD, delete_duplicates, delete_everywhere
from crmsync.engine.views.common import NotFoundError, OperatorError
from crmsync.model.golden import ConflictSide, ParkedConflict
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import AuditEntry, Conflict, GoldenRecord, Store, Transaction

DEFAULT_BY = "cli"
POLICY_BY = "crmsync (settled)"  # what ingest records when a policy settles a parked conflict

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})

ValueType = Literal["str", "int", "float", "bool", "date", "datetime", "multi"]


@dataclass(frozen=True, slots=True)
class QueuedWrite:
    """A write job queued by a resolution: the connection, and the fields it is expected to write."""

    connection: str
    operation: Literal["create", "update", "delete"]
    fields: tuple[str, ...]
    job_id: int


@dataclass(frozen=True, slots=True)
class ResolutionOutcome:
    """What a resolution did: the value chosen, the golden record stored, the writes queued."""

    conflict_id: int
    canonical_id: str
    kind: ObjectKind
    field: str
    previous: CanonicalValue  # the golden value before
    value: CanonicalValue
    source: str | None  # the connection whose side was taken; None for a typed value
    by: str
    at: datetime
    version: int  # of the golden record now stored
    writes: tuple[QueuedWrite, ...]
    closed: tuple[str, ...]  # other fields whose parked conflict the current policy settled on the way


def value_type(samples: Iterable[CanonicalValue]) -> ValueType:
    """The canonical type of a field, judged from values it holds (blanks say nothing); `str` when unknown."""
    found: set[ValueType] = set()
    for value in samples:
        if value is None:
            continue
        if isinstance(value, bool):  # before int: a bool is an int
            found.add("bool")
        elif isinstance(value, int):
            found.add("int")
        elif isinstance(value, float):
            found.add("float")
        elif isinstance(value, datetime):  # before date: a datetime is a date
            found.add("datetime")
        elif isinstance(value, date):
            found.add("date")
        elif isinstance(value, tuple):
            found.add("multi")
        else:
            found.add("str")
    if found == {"int", "float"}:
        return "float"
    if len(found) > 1:
        raise OperatorError(f"the field holds values of several types ({', '.join(sorted(found))}); cannot read it")
    return found.pop() if found else "str"


def parse_value(text: str, kind: ValueType) -> CanonicalValue:
    """Read a typed-in value as the field's canonical type; an empty text is a blank (clears the field)."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return _parse(text, stripped, kind)
    except ValueError:
        raise OperatorError(f"{text!r} is not {_DESCRIBE[kind]}") from None


_DESCRIBE: dict[ValueType, str] = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false (yes/no, 1/0)",
    "date": "a date as YYYY-MM-DD",
    "datetime": "a date and time as ISO 8601 (2026-01-31T09:30:00Z; UTC when no offset is given)",
    "multi": "a list of options separated by ';'",
}


def _parse(text: str, stripped: str, kind: ValueType) -> CanonicalValue:
    if kind == "str":
        return text
    if kind == "int":
        return int(stripped)
    if kind == "float":
        number = float(stripped)
        if not math.isfinite(number):
            raise ValueError(stripped)
        return number
    if kind == "bool":
        lowered = stripped.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(stripped)
    if kind == "date":
        return date.fromisoformat(stripped)
    if kind == "datetime":
        moment = datetime.fromisoformat(stripped)
        # Canonical datetimes are UTC; a time typed without an offset is taken to be UTC already.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    options = sorted({part.strip() for part in stripped.split(";") if part.strip()})
    return tuple(options) or None


def parked(conflict: Conflict, golden: GoldenRecord | None) -> ParkedConflict:
    """A stored conflict as reconcile sees it."""
    has_base = conflict.had_base(golden.record.fields if golden is not None else None)
    sides = tuple(ConflictSide(_side_connection(s.connection), s.value, s.at) for s in conflict.sides)
    return ParkedConflict(conflict.field, conflict.base, has_base, sides)


def _side_connection(stored: str) -> str | None:
    # The store has no NULL connection for a side: the golden record's own value is stored as "golden".
    return None if stored == GOLDEN_SIDE else stored


@dataclass(frozen=True, slots=True)
class _Applied:
    """What one kind of resolution stored, before the common bookkeeping (conflict closed, audit, jobs)."""

    saved: GoldenRecord
    audit: tuple[AuditEntry, ...]
    writes: tuple[tuple[str, Literal["create", "update", "delete"], tuple[str, ...]], ...]
    closed: tuple[str, ...] = ()


async def resolve(
    store: Store,
    config: SyncConfig,
    conflict_id: int,
    choice_connection: str | None = None,
    value: str | None = None,
    by: str = DEFAULT_BY,
) -> ResolutionOutcome:
    """Settle conflict `conflict_id` with one connection's side or a typed-in value, in one transaction.

    Stores the new golden record (optimistic version), closes the conflict, appends the audit and
    queues a write job for every connection that must now change. `choice_connection` "golden"
    keeps the golden record's own side. OperatorError for anything the operator can fix: an unknown
    or closed conflict, a side that does not exist, a value of the wrong type.
    """
    if (choice_connection is None) == (value is None):
        raise OperatorError("choose exactly one: a connection's side (--take) or a value (--value)")
    async with store.begin() as tx:
        conflict = await tx.conflicts.get(conflict_id)
        if conflict is None:
            raise NotFoundError(f"no conflict #{conflict_id}; `crmsync conflicts list` lists the open ones")
        if conflict.resolved:
            raise OperatorError(
                f"conflict #{conflict_id} was already resolved by {conflict.resolved_by}"
                + (f" at {conflict.resolved_at.isoformat(timespec='seconds')}" if conflict.resolved_at else "")
            )
        canonical_id = conflict.canonical_id
        stored = await tx.records.get(canonical_id)
        kind = await _kind_of(tx, canonical_id, stored)
        if stored is not None and stored.deleted:
            raise OperatorError(f"{kind} {canonical_id} is deleted; its conflict can no longer be applied")
        if kind not in config.objects:
            raise OperatorError(f"{kind} is not synced by {config.file}; cannot resolve #{conflict_id}")
        this = parked(conflict, stored)
        choice = _choice(this, choice_connection, value, stored)
        if value is not None and conflict.field != DELETED_FIELD:
            check_typed_value(config, kind, conflict.field, choice.value)  # before anything is stored
        now = store.clock()
        if conflict.field == DELETED_FIELD:
            applied = await _apply_delete(tx, conflict, choice, stored, by, now)
        else:
            applied = await _apply_field(tx, config, kind, conflict, choice, stored, by, now)
        if await tx.conflicts.resolve(conflict_id, choice.value, by) is None:
            raise OperatorError(f"conflict #{conflict_id} was resolved by someone else meanwhile")
        for other in await tx.conflicts.list(canonical_id):
            if other.field in applied.closed:
                await tx.conflicts.resolve(other.id, applied.saved.record.fields.get(other.field), POLICY_BY)
        await tx.audit.append(applied.audit)
        writes = []
        for connection, operation, names in applied.writes:
            job_id = await tx.jobs.enqueue(write_job(kind, canonical_id, connection))
            writes.append(QueuedWrite(connection, operation, names, job_id))
    return ResolutionOutcome(
        conflict_id=conflict_id,
        canonical_id=canonical_id,
        kind=kind,
        field=conflict.field,
        previous=stored.record.fields.get(conflict.field) if stored is not None else None,
        value=choice.value,
        source=choice.connection,
        by=by,
        at=now,
        version=applied.saved.version,
        writes=tuple(writes),
        closed=applied.closed,
    )


async def _apply_field(
    tx: Transaction,
    config: SyncConfig,
    kind: ObjectKind,
    conflict: Conflict,
    choice: Choice,
    stored: GoldenRecord | None,
    by: str,
    now: datetime,
) -> _Applied:
    """A field conflict: reconcile's own `resolve_conflict` over the shadows, then the golden record stored."""
    canonical_id = conflict.canonical_id
    shadows = await tx.shadows.get_all(canonical_id)
    linked = {link.connection for link in await tx.links.remote_links(canonical_id)}
    # As ingest does: a shadow counts only where the record is linked; elsewhere delivery creates it.
    states = [ConnectionState(c, current=None, shadow=s.fields) for c, s in sorted(shadows.items()) if c in linked]
    # A parked delete-versus-edit is not a field: reconcile must not merge it like one.
    others = [
        parked(c, stored)
        for c in await tx.conflicts.list(canonical_id)
        if c.id != conflict.id and c.field != DELETED_FIELD
    ]
    rules = rules_for_record(config.rules_for(kind), stored)
    result = resolve_conflict(to_merged(stored), parked(conflict, stored), choice, states, rules, parked=others, at=now)
    reasons = {entry.field: entry.rule for entry in result.audit}
    reasons.update({r.field: r.rule for r in result.resolved})
    saved = await tx.records.put(to_stored(canonical_id, kind, result.golden, stored, reasons))
    audit = tuple(
        AuditEntry(
            canonical_id=canonical_id,
            field=entry.field,
            old=entry.old,
            new=entry.new,
            connection=by if entry.rule == "manual" else entry.source or by,
            reason=entry.rule if entry.rule == "manual" or not entry.no_base else f"{entry.rule} (first meeting)",
            at=entry.at or now,
        )
        for entry in result.audit
    )
    writes = tuple((d.connection, d.kind, tuple(sorted(d.fields))) for d in result.deltas)
    closed = tuple(name for name in result.closed if name != conflict.field)
    return _Applied(saved, audit, writes, closed)


async def _apply_delete(
    tx: Transaction, conflict: Conflict, choice: Choice, stored: GoldenRecord | None, by: str, now: datetime
) -> _Applied:
    """A delete-versus-edit conflict (S13): the delete spreads everywhere, or the record comes back where it went."""
    if stored is None:
        raise OperatorError(f"{conflict.canonical_id} has no golden record; nothing to delete or restore")
    if not isinstance(choice.value, bool):
        raise OperatorError("a delete conflict is settled with true (delete everywhere) or false (keep the record)")
    deleted_in = sorted(s.connection for s in conflict.sides if s.value is True)
    audit = (AuditEntry(conflict.canonical_id, DELETED_FIELD, conflict.base, choice.value, by, "manual", now),)
    links = await tx.links.remote_links(conflict.canonical_id)
    linked = {link.connection for link in links}
    if choice.value:
        saved = await delete_everywhere(tx, stored, leave=conflict.id)
        # The deleted copies were unlinked when their deletes were read: a record linked in one of those CRMs
        # now was entered since (the same person, matched again) and goes too.
        targets = sorted(linked)
        spread = [link for link in links if link.connection in targets]
        await delete_duplicates(tx, stored.record.kind, conflict.canonical_id, spread, now)
        return _Applied(saved, audit, tuple((c, "delete", ()) for c in targets))
    restored = stored
    for connection in deleted_in:
        restored = without_gone(restored, connection)
    saved = await tx.records.put(restored)
    # No shadow is left where it was deleted: delivery creates it again there and relinks.
    return _Applied(saved, audit, tuple((c, "create", ()) for c in deleted_in))


async def _kind_of(tx: Transaction, canonical_id: str, stored: GoldenRecord | None) -> ObjectKind:
    if stored is not None:
        return stored.record.kind
    found = await tx.links.remote_links(canonical_id)
    if not found:
        raise OperatorError(f"the conflict's record {canonical_id} is neither stored nor linked anywhere")
    return found[0].kind


def _choice(conflict: ParkedConflict, connection: str | None, text: str | None, stored: GoldenRecord | None) -> Choice:
    if connection == GOLDEN_SIDE:
        return _keep_golden(conflict, stored)
    if connection is not None:
        try:
            return Choice.side(conflict, connection)
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
    assert text is not None  # exactly one of the two, checked by the caller
    golden = stored.record.fields.get(conflict.field) if stored is not None else None
    samples = [side.value for side in conflict.sides] + [conflict.base, golden]
    try:
        kind = value_type(samples)
    except OperatorError as exc:
        raise OperatorError(f"{conflict.field}: {exc}") from None
    try:
        return Choice(parse_value(text, kind))
    except OperatorError as exc:
        raise OperatorError(f"{conflict.field}: {exc}") from None


def _keep_golden(conflict: ParkedConflict, stored: GoldenRecord | None) -> Choice:
    """`--take golden`: keep the value the golden record holds now (`golden now` in `conflicts list`).

    A conflict's sides are connections; the golden record is a side only when its value came from no
    connection (a person's earlier choice). Either way keeping it means: no side wins, every copy gets it.
    """
    kept = conflict.side(None)
    if kept is not None:
        return Choice(kept.value, kept.connection)
    if conflict.field == DELETED_FIELD:
        return Choice(False)  # the golden record stays while its delete waits: keeping it restores the copies
    if stored is None or conflict.field not in stored.record.fields:
        takes = " | ".join(f"--take {s.connection}" for s in conflict.sides)
        raise OperatorError(
            f"conflict on {conflict.field!r} is a first meeting: the golden record holds no value for it yet, "
            f"so there is none to keep; take a side ({takes}) or give --value"
        )
    return Choice(stored.record.fields[conflict.field])


__all__ = [
    "DEFAULT_BY",
    "GOLDEN_SIDE",
    "QueuedWrite",
    "ResolutionOutcome",
    "ValueType",
    "parked",
    "parse_value",
    "resolve",
    "value_type",
]
