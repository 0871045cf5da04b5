"""The versioned in-memory record store every emulator keeps its data in.

Each write takes a monotonic stamp (never behind the previous one, even when the clock is moved back)
and a global version; a per-collection change log ordered by stamp answers "what changed since T"
without scanning, and deletes leave tombstones so incremental readers can see them.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from crmsync.emulators.core.clock import EmulatorClock

ChangeKind = Literal["create", "update", "delete", "restore", "merge", "association"]


@dataclass(slots=True)
class StoredRecord:
    """One record as the vendor holds it: vendor-native field values plus bookkeeping."""

    id: str
    fields: dict[str, Any]
    created_ms: int
    modified_ms: int
    version: int
    modified_by: str
    created_by: str
    deleted_ms: int | None = None
    merged_into: str | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_ms is not None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """What a write did, for webhook senders and change feeds."""

    collection: str
    kind: ChangeKind
    record_id: str
    changed: tuple[str, ...]
    version: int
    stamp_ms: int
    source: str
    extra: Mapping[str, Any] = field(default_factory=dict)


class UniqueViolation(Exception):
    """A write would give a unique field a value another live record already has."""

    def __init__(self, field_name: str, value: Any, existing_id: str) -> None:
        super().__init__(f"{field_name}={value!r} already used by {existing_id}")
        self.field_name = field_name
        self.value = value
        self.existing_id = existing_id


Normalizer = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


class Collection:
    """The records of one object type, in creation order, with a stamp-ordered change log."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        self.records: dict[str, StoredRecord] = {}
        self._order: list[str] = []
        # The change log as parallel typed arrays (16 bytes an entry, not ~120 for tuples of ints):
        # a million-record collection must fit in an emulator's memory budget.
        self._log_stamps: array[int] = array("q")
        self._log_versions: array[int] = array("q")
        self._log_ids: list[str] = []
        self._unique: dict[str, tuple[Normalizer, dict[Any, str]]] = {}
        self._live = 0

    # ---- schema-ish -------------------------------------------------------------------------
    def declare_unique(self, field_name: str, normalizer: Normalizer = _identity) -> None:
        index: dict[Any, str] = {}
        for record in self.records.values():
            value = record.fields.get(field_name)
            if value not in (None, "") and not record.deleted:
                index[normalizer(value)] = record.id
        self._unique[field_name] = (normalizer, index)

    def unique_fields(self) -> tuple[str, ...]:
        return tuple(self._unique)

    def find_unique(self, field_name: str, value: Any) -> StoredRecord | None:
        normalizer, index = self._unique[field_name]
        record_id = index.get(normalizer(value))
        return self.records.get(record_id) if record_id is not None else None

    # ---- reads ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._live

    def get(self, record_id: str, *, include_deleted: bool = False) -> StoredRecord | None:
        record = self.records.get(record_id)
        if record is None or (record.deleted and not include_deleted):
            return None
        return record

    def scan(self, *, include_deleted: bool = False) -> Iterator[StoredRecord]:
        """All records in creation (= id) order."""
        records = self.records
        for record_id in self._order:
            record = records.get(record_id)
            if record is not None and (include_deleted or record.deleted_ms is None):
                yield record

    def scan_from(self, position: int, *, include_deleted: bool = False) -> Iterator[tuple[int, StoredRecord]]:
        """(position, record) from a creation-order position on: a stable cursor for list endpoints."""
        records = self.records
        order = self._order
        for index in range(max(position, 0), len(order)):
            record = records.get(order[index])
            if record is not None and (include_deleted or record.deleted_ms is None):
                yield index, record

    def changed_since(self, stamp_ms: int, *, inclusive: bool = True) -> Iterator[StoredRecord]:
        """Records (tombstones included) whose last change is at or after `stamp_ms`, in stamp order."""
        return self._log_from((bisect.bisect_left if inclusive else bisect.bisect_right)(self._log_stamps, stamp_ms))

    def changed_after(self, version: int) -> Iterator[StoredRecord]:
        """Records (tombstones included) whose last change has a version above `version`, in change order.

        The log is in version order as well as stamp order (both come from one counter step), so this
        holds even when the clock was set back: a version token never misses a change, a time one can.
        """
        return self._log_from(bisect.bisect_right(self._log_versions, version))

    def _log_from(self, start: int) -> Iterator[StoredRecord]:
        """The records of the change log from entry `start` on, each at its last change only."""
        records = self.records
        versions = self._log_versions
        ids = self._log_ids
        for index in range(start, len(ids)):
            record = records.get(ids[index])
            if record is not None and record.version == versions[index]:
                yield record

    # ---- writes -----------------------------------------------------------------------------
    def insert(
        self,
        record_id: str,
        fields: dict[str, Any],
        *,
        source: str,
        created_ms: int | None = None,
        emit: bool = True,
    ) -> StoredRecord:
        # Seeding runs this a million times: the unique checks are skipped when nothing is declared unique.
        records = self.records
        if record_id in records:
            raise KeyError(f"{self.name} {record_id} exists")
        if self._unique:
            self._check_unique(record_id, fields)
        stamp, version = self.store.next_stamp()
        record = StoredRecord(
            record_id, fields, created_ms if created_ms is not None else stamp, stamp, version, source, source
        )
        records[record_id] = record
        self._order.append(record_id)
        self._live += 1
        if self._unique:
            self._index(record)
        self._log_append(record)
        if emit:
            self.store.emit(ChangeEvent(self.name, "create", record_id, tuple(fields), version, stamp, source))
        return record

    def update(self, record_id: str, changes: Mapping[str, Any], *, source: str) -> StoredRecord:
        """Apply field changes; a write that changes nothing still bumps the stamp, as every CRM does."""
        record = self.records[record_id]
        if record.deleted:
            raise KeyError(f"{self.name} {record_id} is deleted")
        self._check_unique(record_id, changes)
        self._unindex(record, changes)
        changed = tuple(name for name, value in changes.items() if record.fields.get(name) != value)
        record.fields.update(changes)
        self._index(record)
        self._touch(record, source)
        self.store.emit(
            ChangeEvent(self.name, "update", record_id, changed, record.version, record.modified_ms, source)
        )
        return record

    def delete(
        self, record_id: str, *, source: str, merged_into: str | None = None, kind: ChangeKind = "delete"
    ) -> StoredRecord:
        record = self.records[record_id]
        if record.deleted:
            return record
        self._unindex(record, None)
        self._touch(record, source)
        record.deleted_ms = record.modified_ms
        record.merged_into = merged_into
        self._live -= 1
        extra = {"merged_into": merged_into} if merged_into else {}
        self.store.emit(ChangeEvent(self.name, kind, record_id, (), record.version, record.modified_ms, source, extra))
        return record

    def restore(self, record_id: str, *, source: str) -> StoredRecord:
        record = self.records[record_id]
        if not record.deleted:
            return record
        self._check_unique(record_id, record.fields)
        record.deleted_ms = None
        record.merged_into = None
        self._live += 1
        self._index(record)
        self._touch(record, source)
        self.store.emit(ChangeEvent(self.name, "restore", record_id, (), record.version, record.modified_ms, source))
        return record

    def purge(self, record_id: str) -> None:
        """Forget a record entirely (recycle bin emptied); it leaves no tombstone."""
        record = self.records.pop(record_id, None)
        if record is not None and not record.deleted:
            self._unindex(record, None)
            self._live -= 1

    def touch(self, record_id: str, *, source: str, kind: ChangeKind = "update", **extra: Any) -> StoredRecord:
        """Bump a record's stamp without changing fields (e.g. an association changed)."""
        record = self.records[record_id]
        self._touch(record, source)
        self.store.emit(ChangeEvent(self.name, kind, record_id, (), record.version, record.modified_ms, source, extra))
        return record

    # ---- internals --------------------------------------------------------------------------
    def _touch(self, record: StoredRecord, source: str) -> None:
        stamp, version = self.store.next_stamp()
        record.modified_ms = stamp
        record.version = version
        record.modified_by = source
        self._log_append(record)

    def _log_append(self, record: StoredRecord) -> None:
        self._log_stamps.append(record.modified_ms)
        self._log_versions.append(record.version)
        self._log_ids.append(record.id)
        # Compact once stale entries dominate, so the log stays O(live records).
        if len(self._log_ids) > 4 * max(len(self.records), 1024):
            self._compact_log()

    def log_size(self) -> int:
        return len(self._log_ids)

    def _compact_log(self) -> None:
        records = self.records
        keep = [
            index
            for index, record_id in enumerate(self._log_ids)
            if (rec := records.get(record_id)) is not None and rec.version == self._log_versions[index]
        ]
        self._log_stamps = array("q", (self._log_stamps[i] for i in keep))
        self._log_versions = array("q", (self._log_versions[i] for i in keep))
        self._log_ids = [self._log_ids[i] for i in keep]

    def _check_unique(self, record_id: str, fields: Mapping[str, Any]) -> None:
        for name, (normalizer, index) in self._unique.items():
            value = fields.get(name)
            if value in (None, ""):
                continue
            owner = index.get(normalizer(value))
            if owner is not None and owner != record_id:
                raise UniqueViolation(name, value, owner)

    def _index(self, record: StoredRecord) -> None:
        for name, (normalizer, index) in self._unique.items():
            value = record.fields.get(name)
            if value not in (None, ""):
                index[normalizer(value)] = record.id

    def _unindex(self, record: StoredRecord, changes: Mapping[str, Any] | None) -> None:
        for name, (normalizer, index) in self._unique.items():
            if changes is not None and name not in changes:
                continue
            value = record.fields.get(name)
            if value not in (None, "") and index.get(normalizer(value)) == record.id:
                del index[normalizer(value)]


class Store:
    """All collections of one emulated org/portal/environment, sharing one clock and version counter."""

    def __init__(self, clock: EmulatorClock, *, stamp_resolution_ms: int = 1) -> None:
        self.clock = clock
        self.stamp_resolution_ms = stamp_resolution_ms
        self.collections: dict[str, Collection] = {}
        self.version = 0
        self._last_stamp = 0
        self._listeners: list[Callable[[ChangeEvent], None]] = []

    def collection(self, name: str) -> Collection:
        found = self.collections.get(name)
        if found is None:
            found = self.collections[name] = Collection(self, name)
        return found

    def next_stamp(self) -> tuple[int, int]:
        now = self.clock.now_ms()
        now -= now % self.stamp_resolution_ms
        if now > self._last_stamp:
            self._last_stamp = now
        self.version += 1
        return self._last_stamp, self.version

    def subscribe(self, listener: Callable[[ChangeEvent], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: ChangeEvent) -> None:
        for listener in self._listeners:
            listener(event)

    def clear(self) -> None:
        """Drop every record (keeps declared unique indexes' definitions and listeners)."""
        for name, old in list(self.collections.items()):
            fresh = Collection(self, name)
            for field_name, (normalizer, _) in old._unique.items():
                fresh.declare_unique(field_name, normalizer)
            self.collections[name] = fresh

    def counts(self) -> dict[str, int]:
        return {name: len(coll) for name, coll in self.collections.items()}


def bulk_load(collection: Collection, rows: Iterable[tuple[str, dict[str, Any]]], *, source: str = "seed") -> int:
    """Insert many records without emitting change events (seeding must not fire webhooks)."""
    count = 0
    for record_id, fields in rows:
        collection.insert(record_id, fields, source=source, emit=False)
        count += 1
    return count
