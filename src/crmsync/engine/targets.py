"""Target deltas: what each connection must be written so it matches the golden record (golden − its shadow)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from crmsync.engine.reconcile_types import ConnectionState, TargetDelta
from crmsync.model.rules import SyncRules
from crmsync.model.values import CanonicalValue, Fields


def target_deltas(
    golden: Fields,
    states: Sequence[ConnectionState],
    rules: SyncRules,
    withheld: Collection[str] = (),
    only: str | None = None,
) -> tuple[TargetDelta, ...]:
    """One delta per connection that needs writes, sorted by connection.

    `golden` is the golden record's values (provenance plays no part in what a connection must hold).
    A connection holding the record gets the writable fields whose golden value differs from its
    known values; a synced connection not holding it gets a create with every writable non-blank
    golden field. `withheld` fields (parked conflicts) overwrite no connection's value until resolved. `only`: the
    delta of that one connection (delivery plans one target at a time).
    """
    holding = {s.connection: s for s in states}
    deltas: list[TargetDelta] = []
    for connection in sorted(set(rules.connections)):
        if only is not None and connection != only:
            continue
        state = holding.get(connection)
        if state is None:
            deltas.append(_create(golden, connection, rules))
            continue
        delta = _update(golden, state, rules, withheld)
        if delta is not None:
            deltas.append(delta)
    return tuple(deltas)


def shadow_after_write(
    shadow: Fields | None, delta: TargetDelta, mapped: Iterable[str] = ()
) -> dict[str, CanonicalValue]:
    """The shadow to store once `delta` landed: what was written is what the connection now holds.

    For a create, the connection's other `mapped` fields are recorded blank, so a later edit of one
    of them is a change against a base rather than a value offered by a record met for the first time.
    """
    base: dict[str, CanonicalValue] = dict.fromkeys(mapped) if delta.kind == "create" else {}
    return {**base, **(shadow or {}), **delta.fields}


def _update(golden: Fields, state: ConnectionState, rules: SyncRules, withheld: Collection[str]) -> TargetDelta | None:
    known = state.known
    fields: dict[str, CanonicalValue] = {}
    previous: dict[str, CanonicalValue] = {}
    for name in sorted(set(golden) | set(known)):
        if name in withheld or not rules.direction_for(name).writes_to(state.connection):
            continue
        if not rules.maps(state.connection, name, known):
            continue
        want, have = golden.get(name), known.get(name)
        if want == have:
            continue
        # A blank golden value never clears a connection's value under unless_blank.
        if want is None and rules.policy_for(name).unless_blank:
            continue
        fields[name] = want
        previous[name] = have
    if not fields:
        return None
    return TargetDelta(state.connection, "update", fields, previous)


def _create(golden: Fields, connection: str, rules: SyncRules) -> TargetDelta:
    # A create overwrites nothing, so a field held by a parked conflict goes with its golden value for
    # now (a Salesforce deal cannot be created without its stage); the person's choice then reaches
    # this copy as it reaches the others.
    fields = {
        name: value
        for name, value in sorted(golden.items())
        if value is not None and rules.direction_for(name).writes_to(connection) and rules.maps(connection, name)
    }
    return TargetDelta(connection, "create", fields)


__all__ = ["shadow_after_write", "target_deltas"]
