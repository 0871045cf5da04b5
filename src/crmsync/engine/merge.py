"""Reconcile one canonical record: three-way, field-level merge of connection values into the golden record.

Pure functions over typed values (no I/O, no clock). For each field, each source connection's delta
is its current value against its shadow; a connection met for the first time (no shadow) offers
its non-blank values with no base. Changes that agree merge silently; changes that differ go to the
field's policy (`engine.policy.decide`). The golden record then yields per-connection target deltas
(`engine.targets`). Echo suppression follows: once written values are stored as shadows, the same
values read back are no change (DESIGN invariant 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crmsync.engine.policy import Decision, decide, sort_sides
from crmsync.engine.reconcile_types import AuditEntry, AutoResolution, ConnectionState, ReconcileResult, TargetDelta
from crmsync.engine.targets import target_deltas
from crmsync.model.golden import ConflictSide, GoldenField, GoldenRecord, ParkedConflict
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalValue


@dataclass(frozen=True, slots=True)
class Choice:
    """A person's resolution of a parked conflict: a value, taken from a connection's side or typed in."""

    value: CanonicalValue
    connection: str | None = None

    @classmethod
    def side(cls, conflict: ParkedConflict, connection: str) -> Choice:
        chosen = conflict.side(connection)
        if chosen is None:
            sides = ", ".join(str(s.connection) for s in conflict.sides)
            raise ValueError(f"conflict on {conflict.field!r} has no side from {connection!r} (sides: {sides})")
        return cls(chosen.value, connection)


def reconcile(
    golden: GoldenRecord | None,
    states: Sequence[ConnectionState],
    rules: SyncRules,
    parked: Iterable[ParkedConflict] = (),
) -> ReconcileResult:
    """Merge the connections' values into the golden record and say what each connection must be written.

    `golden` is None on a first meeting. `states` are the connections that hold the record (states
    of connections the object no longer syncs with are ignored); `parked` are the conflicts
    already open on this record. The result does not depend on the order of `states`.
    """
    active = _index(states, rules)
    open_conflicts = _index_conflicts(parked)
    merger = _Merger(golden)
    for name in _field_names(golden, active, open_conflicts):
        direction = rules.direction_for(name)
        conflict = open_conflicts.get(name)
        if direction.kind == "none":
            if conflict is not None:
                merger.withheld.add(name)
            continue
        changed, offered, agreed = _source_sides(name, active, rules, merger.base_entry(name))
        if conflict is not None:
            merger.revisit(conflict, changed, offered, rules)
        else:
            merger.fresh(name, changed, offered, agreed, rules)
    new_golden = GoldenRecord(dict(sorted(merger.fields.items())))
    deltas = target_deltas(new_golden.values(), active, rules, merger.withheld)
    return ReconcileResult(
        golden=new_golden,
        shadows={s.connection: dict(s.current) for s in active if s.current is not None},
        deltas=deltas,
        parked=tuple(merger.parked),
        closed=tuple(merger.closed),
        resolved=tuple(merger.resolved),
        audit=tuple(merger.audit),
        reverted=_reverted(deltas, active, rules),
    )


def resolve_conflict(
    golden: GoldenRecord | None,
    conflict: ParkedConflict,
    choice: Choice,
    states: Sequence[ConnectionState],
    rules: SyncRules,
    *,
    parked: Iterable[ParkedConflict] = (),
    at: datetime | None = None,
) -> ReconcileResult:
    """Settle a parked conflict with a person's choice and send it everywhere.

    `at` is when the person chose (the caller's clock). Other conflicts still parked on the record
    go in `parked`; `conflict` itself is closed by the result.
    """
    fields = dict(golden.fields) if golden is not None else {}
    fields[conflict.field] = GoldenField(choice.value, choice.connection, at)
    others = [p for p in parked if p.field != conflict.field]
    result = reconcile(GoldenRecord(fields), states, rules, others)
    entry = AuditEntry(
        field=conflict.field,
        old=conflict.base,
        new=choice.value,
        source=choice.connection,
        at=at,
        rule="manual",
        no_base=not conflict.has_base,
    )
    return replace(result, closed=(conflict.field, *result.closed), audit=(entry, *result.audit))


class _Merger:
    """Accumulates one reconcile's field outcomes (a private builder; the result is immutable)."""

    def __init__(self, golden: GoldenRecord | None) -> None:
        self.fields: dict[str, GoldenField] = dict(golden.fields) if golden is not None else {}
        self.withheld: set[str] = set()
        self.parked: list[ParkedConflict] = []
        self.closed: list[str] = []
        self.resolved: list[AutoResolution] = []
        self.audit: list[AuditEntry] = []

    def base_entry(self, name: str) -> GoldenField | None:
        return self.fields.get(name)

    def fresh(
        self,
        name: str,
        changed: list[ConflictSide],
        offered: list[ConflictSide],
        agreed: _Stale | None,
        rules: SyncRules,
    ) -> None:
        """Decide a field with no open conflict; `agreed` is set when a change was made to a stale copy."""
        entry = self.fields.get(name)
        base = entry.value if entry is not None else None
        stale = agreed is not None
        contenders = changed + [o for o in offered if o.value is not None and o.value != base]
        # The golden value contends when a changed connection edited a stale copy (a write to it was
        # still pending: a concurrent edit), or when a newly met record offers a different value;
        # unless its own source changed again, which supersedes it.
        contested_base = stale or (not changed and len(contenders) > 0 and base is not None)
        if entry is not None and contested_base and entry.source not in {c.connection for c in contenders}:
            contenders.append(_incumbent(entry))
        if not contenders:
            return
        no_base = not changed
        decision = decide(contenders, rules.policy_for(name))
        if decision.kind == "park":
            if no_base:
                # Records met for the first time disagree (here, or with the value of a twin read before them):
                # nothing was agreed, and a side going back to the golden value (the first one's own) is still
                # a claim, not a change given up.
                self.parked.append(ParkedConflict(name, None, False, sort_sides(contenders)))
                self.withheld.add(name)
                return
            # The base shown to the operator is the last value both sides agreed on: with a stale copy, that
            # copy's shadow, not the golden value the other side's change already replaced.
            parked_base = agreed.value if agreed is not None else base
            self.parked.append(ParkedConflict(name, parked_base, entry is not None, sort_sides(contenders)))
            self.withheld.add(name)
            return
        self._apply(name, decision, no_base)

    def revisit(
        self,
        conflict: ParkedConflict,
        changed: list[ConflictSide],
        offered: list[ConflictSide],
        rules: SyncRules,
    ) -> None:
        name = conflict.field
        sides: dict[str | None, ConflictSide] = {s.connection: s for s in conflict.sides}
        for side in [*changed, *(o for o in offered if o.value is not None)]:
            if side.value == conflict.base and (conflict.has_base or side.value is None):
                # Changed back to the base (or cleared, with no base): it gives up its claim.
                sides.pop(side.connection, None)
            else:
                sides[side.connection] = side
        contenders = list(sides.values())
        decision = decide(contenders, rules.policy_for(name))
        if decision.kind == "park":
            updated = ParkedConflict(name, conflict.base, conflict.has_base, sort_sides(contenders))
            if updated != conflict:
                self.parked.append(updated)
            self.withheld.add(name)
            return
        self.closed.append(name)
        if decision.kind == "set" and not decision.contested:
            decision = replace(decision, rule="withdrawn")
        self._apply(name, decision, not conflict.has_base)

    def _apply(self, name: str, decision: Decision, no_base: bool) -> None:
        entry = self.fields.get(name)
        base = entry.value if entry is not None else None
        winner = decision.winner
        if winner is None:  # keep the base: only a refused blank can get here with a conflict
            if decision.contested and entry is not None:
                self.resolved.append(AutoResolution(name, decision.rule, _incumbent(entry), decision.losers, no_base))
            return
        if decision.contested:
            self.resolved.append(AutoResolution(name, decision.rule, winner, decision.losers, no_base))
        if entry is not None and winner.value == base:
            return
        if entry is None and winner.value is None:
            return
        self.fields[name] = GoldenField(winner.value, winner.connection, winner.at)
        self.audit.append(AuditEntry(name, base, winner.value, winner.connection, winner.at, decision.rule, no_base))


def _incumbent(entry: GoldenField) -> ConflictSide:
    return ConflictSide(entry.source, entry.value, entry.at)


@dataclass(frozen=True, slots=True)
class _Stale:
    """A change made to a copy still awaiting a write; `value` is that copy's shadow, the last agreed value."""

    value: CanonicalValue


def _source_sides(
    name: str,
    active: Sequence[ConnectionState],
    rules: SyncRules,
    entry: GoldenField | None,
) -> tuple[list[ConflictSide], list[ConflictSide], _Stale | None]:
    """Changes since each shadow, values offered with no base, and the agreed value when a change was made
    to a stale copy (one still awaiting the golden value's write: a concurrent edit)."""
    changed: list[ConflictSide] = []
    offered: list[ConflictSide] = []
    agreed: _Stale | None = None
    direction = rules.direction_for(name)
    base = entry.value if entry is not None else None
    for state in active:
        if state.current is None or name not in state.current or not direction.reads_from(state.connection):
            continue
        if not rules.maps(state.connection, name, state.current):
            continue
        value = state.current[name]
        if state.shadow is None or name not in state.shadow:
            if name in state.coarse:
                continue  # the golden value as this CRM holds it: nothing to weigh
            side = ConflictSide(state.connection, value, state.time_of(name))
            (changed if name in state.finer else offered).append(side)
        elif value != state.shadow[name]:
            changed.append(ConflictSide(state.connection, value, state.time_of(name)))
            # A receiver whose shadow differs from the golden value still awaits a write: its edit is concurrent.
            if (
                agreed is None
                and entry is not None
                and state.shadow[name] != base
                and direction.writes_to(state.connection)
            ):
                agreed = _Stale(state.shadow[name])
    return changed, offered, agreed


def _reverted(
    deltas: Iterable[TargetDelta], active: Sequence[ConnectionState], rules: SyncRules
) -> tuple[AuditEntry, ...]:
    """Edits made in a CRM to fields crmsync only writes there (a one-way direction), which `deltas` overwrite.

    Overwriting them is the configuration's intent, but a person's edit vanishing without a trace looks like
    a lost update: the audit keeps what was overwritten, once per edit (the next read's shadow holds it). A
    record met for the first time there counts when it held a value of its own.
    """
    states = {s.connection: s for s in active}
    entries: list[AuditEntry] = []
    for delta in deltas:
        state = states.get(delta.connection)
        if delta.kind != "update" or state is None or state.current is None:
            continue
        for name, value in delta.fields.items():
            if name not in state.current or rules.direction_for(name).reads_from(delta.connection):
                continue
            edited = state.current[name]
            shadow = state.shadow
            first = shadow is None or name not in shadow
            if edited == (None if shadow is None else shadow.get(name)):
                continue  # unchanged since crmsync last read or wrote it (or blank when first met): no edit
            entries.append(AuditEntry(name, edited, value, delta.connection, state.time_of(name), "reverted", first))
    return tuple(entries)


def _index(states: Sequence[ConnectionState], rules: SyncRules) -> list[ConnectionState]:
    by_connection: dict[str, ConnectionState] = {}
    for state in states:
        if state.connection in by_connection:
            raise ValueError(f"connection {state.connection!r} appears twice in one reconcile")
        by_connection[state.connection] = state
    synced = set(rules.connections)
    return [by_connection[c] for c in sorted(by_connection) if c in synced]


def _index_conflicts(parked: Iterable[ParkedConflict]) -> dict[str, ParkedConflict]:
    by_field: dict[str, ParkedConflict] = {}
    for conflict in parked:
        if conflict.field in by_field:
            raise ValueError(f"field {conflict.field!r} has two parked conflicts")
        by_field[conflict.field] = conflict
    return by_field


def _field_names(
    golden: GoldenRecord | None,
    active: Sequence[ConnectionState],
    conflicts: Mapping[str, ParkedConflict],
) -> list[str]:
    names: set[str] = set(conflicts)
    if golden is not None:
        names.update(golden.fields)
    for state in active:
        names.update(state.known)
        if state.shadow is not None:
            names.update(state.shadow)
    return sorted(names)


__all__ = ["Choice", "reconcile", "resolve_conflict"]
