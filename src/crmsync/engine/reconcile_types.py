"""Typed inputs and outputs of reconcile: connection states in, a ReconcileResult (a decision, not an action) out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from crmsync.model.golden import ConflictSide, GoldenRecord, ParkedConflict
from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalValue, Fields

Rule = Literal["change", "agreed", "last_writer_wins", "prefer", "unless_blank", "manual", "withdrawn", "reverted"]
"""Why a field has its value: one source changed it (`change`), several changed it alike (`agreed`),
a policy settled a conflict, a blank was refused (`unless_blank`), a person chose (`manual`), or a
parked conflict dissolved because its sides came to agree or gave up (`withdrawn`). `reverted` is never a
field's provenance: it audits a CRM's edit of a field it only receives, overwritten by the golden value."""

REVERTED = "reverted (one-way field)"
REVERTED_FIRST_MET = "reverted (one-way field, first meeting)"
"""The audit's reason for a `reverted` entry: a CRM's own value of a field it only receives, written over."""


@quick_init
@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What crmsync knows of the record in one connection that holds it.

    `current` is the mapped canonical values just read (None: not read this time, its `shadow`
    stands for it). `shadow` is what was last read from or written to it (None: first meeting).
    Times are the best available: `field_times` (e.g. HubSpot property history) else `modified_at`.
    """

    connection: str
    current: Fields | None = None
    shadow: Fields | None = None
    modified_at: datetime | None = None
    field_times: Mapping[str, datetime] = field(default_factory=dict)
    # Met for the first time through a lossy value map (HubSpot's one `contractsent` for Salesforce's Proposal and
    # Negotiation): fields whose value here is this CRM's own image of the golden value (no contender: it is
    # what writing the golden value here would give), and fields whose golden value is its source CRM's image of
    # the value here (a finer value of the same thing: taken as a change, not weighed against the coarser one).
    coarse: frozenset[str] = frozenset()
    finer: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.current is None and self.shadow is None:
            raise ValueError(f"connection {self.connection!r}: a linked record needs current values or a shadow")

    @property
    def known(self) -> Fields:
        """The connection's values as best known: what was just read, else the shadow."""
        if self.current is not None:
            return self.current
        assert self.shadow is not None  # guaranteed by __post_init__
        return self.shadow

    def time_of(self, name: str) -> datetime | None:
        return self.field_times.get(name, self.modified_at)


@quick_init
@dataclass(frozen=True, slots=True)
class TargetDelta:
    """Writes one connection needs so it matches the golden record.

    A delta supersedes any pending write of the same record to the same connection: an empty
    reconcile outcome for a connection means nothing should be written there any more.
    `previous` holds the connection's known values of the written fields (for plans and audit).
    """

    connection: str
    kind: Literal["create", "update"]
    fields: Mapping[str, CanonicalValue]
    previous: Mapping[str, CanonicalValue] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class AutoResolution:
    """A conflict settled by policy without a person: the winner and the losers, for the audit."""

    field: str
    rule: Rule
    winner: ConflictSide
    losers: tuple[ConflictSide, ...]
    no_base: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of the golden record: field, old → new, where it came from and by which rule."""

    field: str
    old: CanonicalValue
    new: CanonicalValue
    source: str | None
    at: datetime | None
    rule: Rule
    no_base: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """Everything one reconcile decided, to be stored in one transaction and delivered later.

    `shadows` are the values just read per connection (the new shadows before any write lands);
    `parked` lists conflicts newly parked or whose sides changed; `closed` names fields whose
    previously parked conflict is settled now.
    """

    golden: GoldenRecord
    shadows: Mapping[str, Fields]
    deltas: tuple[TargetDelta, ...]
    parked: tuple[ParkedConflict, ...] = ()
    closed: tuple[str, ...] = ()
    resolved: tuple[AutoResolution, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    # Edits of one-way fields the deltas overwrite: `source` is the CRM that made the edit, `old` its value, `new`
    # the golden value written over it. Not changes of the golden record, so not in `audit`.
    reverted: tuple[AuditEntry, ...] = ()

    @property
    def writes(self) -> int:
        """Field writes across all deltas (a create with no field still counts as one write)."""
        return sum(max(len(d.fields), 1 if d.kind == "create" else 0) for d in self.deltas)

    def delta_for(self, connection: str) -> TargetDelta | None:
        return next((d for d in self.deltas if d.connection == connection), None)


__all__ = [
    "REVERTED",
    "REVERTED_FIRST_MET",
    "AuditEntry",
    "AutoResolution",
    "ConnectionState",
    "ReconcileResult",
    "Rule",
    "TargetDelta",
]
