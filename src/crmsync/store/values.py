"""Typed values that go into and come out of the state store's repositories and job queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from crmsync.model.quick import quick_init
from crmsync.model.values import CanonicalRecord, CanonicalValue, Fields, ObjectKind

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime; injected so tests control leases and backoff."""


@quick_init
@dataclass(frozen=True, slots=True)
class Link:
    """One entry of the identity map: a remote record in one connection stands for a canonical record."""

    canonical_id: str
    kind: ObjectKind
    connection: str
    object: str  # the vendor's object name: "Contact", "contacts", "contact"
    remote_id: str


@quick_init
@dataclass(frozen=True, slots=True)
class Shadow:
    """What crmsync last read from or wrote to one connection for one canonical record."""

    canonical_id: str
    connection: str
    fields: Fields
    version_token: str | None = None  # the vendor's stamp or etag, opaque
    content_hash: str = ""  # filled in by the store from `fields`
    updated_at: datetime | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a golden field value came from: the connection and the time of the change."""

    connection: str | None  # None: chosen by a person, or unknown
    at: datetime | None
    reason: str = ""  # the rule that chose it: "only_change", "last_writer_wins", "prefer", "manual"


@quick_init
@dataclass(frozen=True, slots=True)
class GoldenRecord:
    """The agreed values of one canonical record, each field with its provenance."""

    record: CanonicalRecord
    provenance: Mapping[str, Provenance] = field(default_factory=dict)
    deleted: bool = False
    version: int = 0  # bumped on each write; 0 for a record never stored
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConflictSide:
    """One connection's value in a conflict, with the best timestamp known for it."""

    connection: str
    value: CanonicalValue
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A parked field-level conflict, open until a person (or a later rule) resolves it."""

    id: int
    canonical_id: str
    field: str
    base: CanonicalValue
    sides: tuple[ConflictSide, ...]
    created_at: datetime
    resolved: bool = False
    resolution: CanonicalValue = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    # False: parked when records met for the first time disagreed (no value was agreed yet); None: parked before
    # crmsync recorded it (schema 13), to be judged from the golden record as before.
    has_base: bool | None = True

    def had_base(self, golden: Mapping[str, CanonicalValue] | None) -> bool:
        """Whether the sides diverged from an agreed value (`golden`: the record's values, for older conflicts)."""
        if self.has_base is not None:
            return self.has_base
        return self.base is not None or (golden is not None and self.field in golden)


SyncOperation = Literal["read", "create", "update", "delete", "merge", "link"]


@dataclass(frozen=True, slots=True)
class SyncErrorReport:
    """A record that could not be read or written, as reported by the engine (the vendor's words)."""

    connection: str
    object: str
    operation: SyncOperation
    message: str
    canonical_id: str | None = None
    remote_id: str | None = None
    field: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class SyncError:
    """A stored sync error: the latest report plus how often and since when it happened."""

    id: int
    report: SyncErrorReport
    count: int
    first_seen: datetime
    last_seen: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One field change of a golden record: old → new, from which connection, by which rule."""

    canonical_id: str
    field: str
    old: CanonicalValue
    new: CanonicalValue
    connection: str
    reason: str
    at: datetime


JobStatus = Literal["pending", "running", "done", "dead"]


@quick_init
@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to enqueue. Jobs sharing a `key` (one record) run one at a time, in enqueue order."""

    key: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)  # JSON-safe
    priority: int = 0  # higher first among runnable keys (live changes before backfill)
    run_after: datetime | None = None  # None: now
    coalesce: bool = True  # a pending job with the same key and kind absorbs this one


@quick_init
@dataclass(frozen=True, slots=True)
class Job:
    """A job as stored: its lease, attempts and state."""

    id: int
    key: str
    kind: str
    payload: Mapping[str, Any]
    status: JobStatus
    priority: int
    attempts: int
    run_after: datetime
    locked_by: str | None
    locked_until: datetime | None
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for failed jobs: base × 2^(attempt−1), capped; dead-lettered after `max_attempts` attempts."""

    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(seconds=60)

    def delay(self, attempts: int) -> timedelta:
        exponent = max(0, attempts - 1)
        # Cap the exponent before multiplying: 2**64 seconds overflows timedelta.
        if exponent >= 40:
            return self.max_delay
        delay: timedelta = self.base_delay * (2**exponent)
        return min(self.max_delay, delay)
