"""Conflict policies as a pure decision: given the contenders for one field, who wins, or park it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from crmsync.engine.reconcile_types import Rule
from crmsync.model.golden import ConflictSide
from crmsync.model.quick import quick_init
from crmsync.model.rules import Policy
from crmsync.model.values import CanonicalValue

DecisionKind = Literal["keep", "set", "park"]


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one field: keep the base, set the winner's value, or park the contenders.

    `contested` says two or more different values were on the table (a conflict, settled or parked).
    """

    kind: DecisionKind
    rule: Rule
    winner: ConflictSide | None = None
    losers: tuple[ConflictSide, ...] = ()
    contested: bool = False


def decide(candidates: Sequence[ConflictSide], policy: Policy) -> Decision:
    """Settle one field among `candidates` (each a connection's new value) under `policy`.

    The result does not depend on the order of `candidates`: ties on time fall to the connection
    name, then to the value, so every replica of the engine picks the same winner.
    """
    blanks: tuple[ConflictSide, ...] = ()
    if policy.unless_blank:
        blanks = sort_sides(c for c in candidates if c.value is None)
        candidates = [c for c in candidates if c.value is not None]
        if not candidates:
            return Decision("keep", "unless_blank", losers=blanks, contested=bool(blanks))
    if not candidates:
        return Decision("keep", "change")

    groups: dict[CanonicalValue, list[ConflictSide]] = {}
    for side in candidates:
        groups.setdefault(side.value, []).append(side)
    if len(groups) == 1:
        winner = latest(candidates)
        if blanks:
            return Decision("set", "unless_blank", winner, blanks, contested=True)
        return Decision("set", "change" if len(candidates) == 1 else "agreed", winner)

    if policy.kind == "manual":
        return Decision("park", "manual", losers=sort_sides(candidates), contested=True)
    rule: Rule = "last_writer_wins"
    winner = latest(candidates)
    if policy.kind == "prefer":
        preferred = _first_preferred(candidates, policy.prefer)
        if preferred is not None:
            winner, rule = preferred, "prefer"
    losers = sort_sides([c for c in candidates if c.value != winner.value] + list(blanks))
    return Decision("set", rule, winner, losers, contested=True)


def latest(sides: Iterable[ConflictSide]) -> ConflictSide:
    """The side with the best (latest) time; ties go to the smallest connection name, then value."""
    return min(sides, key=lambda s: (-_timestamp(s.at), s.connection or "", _value_key(s.value)))


def sort_sides(sides: Iterable[ConflictSide]) -> tuple[ConflictSide, ...]:
    """Sides in a canonical order (by connection, then value), for stable conflicts and audits."""
    return tuple(sorted(sides, key=lambda s: (s.connection or "", _value_key(s.value))))


def _first_preferred(candidates: Sequence[ConflictSide], prefer: Sequence[str]) -> ConflictSide | None:
    for connection in prefer:
        offered = [c for c in candidates if c.connection == connection]
        if offered:
            return latest(offered)
    return None


def _timestamp(at: datetime | None) -> float:
    # An unknown time is the oldest: a value with evidence of recency beats one without.
    return float("-inf") if at is None else at.timestamp()


def _value_key(value: CanonicalValue) -> tuple[str, str]:
    return (type(value).__name__, repr(value))


__all__ = ["Decision", "DecisionKind", "decide", "latest", "sort_sides"]
