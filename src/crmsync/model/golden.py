"""The golden record with per-field provenance, and conflicts parked on it (DESIGN §3 `records`, `conflicts`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue


@quick_init
@dataclass(frozen=True, slots=True)
class GoldenField:
    """A field's agreed value, where it came from and when (`source` None: chosen by a person or unknown)."""

    value: CanonicalValue
    source: str | None = None
    at: datetime | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class GoldenRecord:
    """crmsync's agreed view of one canonical record: what every connection converges to."""

    fields: Mapping[str, GoldenField] = field(default_factory=dict)

    def value(self, name: str) -> CanonicalValue:
        entry = self.fields.get(name)
        return None if entry is None else entry.value

    def values(self) -> dict[str, CanonicalValue]:
        return {name: entry.value for name, entry in self.fields.items()}


@quick_init
@dataclass(frozen=True, slots=True)
class ConflictSide:
    """One contender in a conflict: a connection's value and its best timestamp.

    `connection` None stands for the golden record's own value when its source is not a connection.
    """

    connection: str | None
    value: CanonicalValue
    at: datetime | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ParkedConflict:
    """A field changed differently in several connections, waiting for a person (policy `manual`).

    `base` is the golden value the sides diverged from; `has_base` is False on a first meeting,
    where there was no agreed value yet. Sides are sorted by connection.
    """

    field: str
    base: CanonicalValue
    has_base: bool
    sides: tuple[ConflictSide, ...]

    def side(self, connection: str | None) -> ConflictSide | None:
        return next((s for s in self.sides if s.connection == connection), None)


__all__ = ["ConflictSide", "GoldenField", "GoldenRecord", "ParkedConflict"]
