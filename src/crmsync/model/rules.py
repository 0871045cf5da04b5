"""Sync rules of one object as typed values: conflict policies and directions per field (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

PolicyKind = Literal["last_writer_wins", "prefer", "manual"]
DirectionKind = Literal["both", "to", "from", "none"]


@dataclass(frozen=True, slots=True)
class Policy:
    """How a field changed differently in several places is settled.

    `last_writer_wins` takes the value with the best timestamp; `prefer` takes the first listed
    connection that offers a value (falling back to the last writer when none of them does);
    `manual` parks the conflict for a person. With `unless_blank`, a blank never overwrites a value,
    whatever the policy: clearing such a field is ignored and the value is written back.
    """

    kind: PolicyKind = "last_writer_wins"
    prefer: tuple[str, ...] = ()
    unless_blank: bool = False

    def __post_init__(self) -> None:
        if self.kind == "prefer" and not self.prefer:
            raise ValueError("a `prefer` policy needs at least one connection")
        if self.kind != "prefer" and self.prefer:
            raise ValueError(f"only a `prefer` policy lists connections, not {self.kind!r}")

    @classmethod
    def last_writer_wins(cls, *, unless_blank: bool = False) -> Policy:
        return cls("last_writer_wins", (), unless_blank)

    @classmethod
    def preferring(cls, *connections: str, unless_blank: bool = False) -> Policy:
        return cls("prefer", tuple(connections), unless_blank)

    @classmethod
    def manual(cls, *, unless_blank: bool = False) -> Policy:
        return cls("manual", (), unless_blank)


@dataclass(frozen=True, slots=True)
class Direction:
    """Which connections a field is read from and written to.

    `both` reads and writes everywhere; `to: [X]` makes X a mirror (written, never read) fed by the
    others; `from: [X]` makes X the only source, written nowhere but read for everyone else;
    `none` leaves the field alone.
    """

    kind: DirectionKind = "both"
    connections: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind in ("to", "from") and not self.connections:
            raise ValueError(f"direction `{self.kind}` needs at least one connection")

    @classmethod
    def both(cls) -> Direction:
        return cls("both")

    @classmethod
    def to(cls, *connections: str) -> Direction:
        return cls("to", frozenset(connections))

    @classmethod
    def from_(cls, *connections: str) -> Direction:
        return cls("from", frozenset(connections))

    @classmethod
    def none(cls) -> Direction:
        return cls("none")

    def reads_from(self, connection: str) -> bool:
        if self.kind == "both":
            return True
        if self.kind == "to":
            return connection not in self.connections
        if self.kind == "from":
            return connection in self.connections
        return False

    def writes_to(self, connection: str) -> bool:
        if self.kind == "both":
            return True
        if self.kind == "to":
            return connection in self.connections
        if self.kind == "from":
            return connection not in self.connections
        return False


@dataclass(frozen=True, slots=True)
class SyncRules:
    """Everything reconcile needs to know about one object kind's configuration.

    `connections` are the connections the object syncs with. `policy` is the object's default,
    `field_policies` and `directions` override it per canonical field. `connection_fields` lists the
    canonical fields each connection maps; the engine should always give it, since a connection
    missing from it is taken to map exactly the fields its known values hold (and every field, for a
    create), which misses fields a shadow written by a create does not hold yet.
    """

    connections: tuple[str, ...]
    policy: Policy = field(default_factory=Policy)
    field_policies: Mapping[str, Policy] = field(default_factory=dict)
    directions: Mapping[str, Direction] = field(default_factory=dict)
    connection_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def policy_for(self, name: str) -> Policy:
        return self.field_policies.get(name, self.policy)

    def direction_for(self, name: str) -> Direction:
        return self.directions.get(name, _BOTH)

    def maps(self, connection: str, name: str, reported: Mapping[str, object] | None = None) -> bool:
        """Whether `connection` maps field `name`: configured fields when known, else the fields it reported."""
        configured = self.connection_fields.get(connection)
        if configured is not None:
            return name in configured
        return True if reported is None else name in reported


_BOTH = Direction()


__all__ = ["Direction", "DirectionKind", "Policy", "PolicyKind", "SyncRules"]
