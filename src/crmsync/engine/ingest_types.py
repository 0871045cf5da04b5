"""What one page's ingest passes between its phases: its records mapped in, and the counts of what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

from crmsync.connectors.base import RemoteRecord
from crmsync.mapping import MappingProblem
from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue


@quick_init
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
    keyless: int = 0
    """Records met for the first time with no match key: new canonical records, which nothing can match."""
    deletes: int = 0
    errors: int = 0
    unchanged: int = 0
    writes: dict[str, int] = field(default_factory=dict)

    def add(self, other: PageOutcome) -> None:
        """Count a chunk of the page in (`seen` is the page's, set once)."""
        for item in dataclass_fields(self):
            if item.name == "writes":
                for what, n in other.writes.items():
                    self.writes[what] = self.writes.get(what, 0) + n
            elif item.name != "seen":
                setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


__all__ = ["Incoming", "PageOutcome"]
