"""The connector boundary: typed values that cross it and the Protocols a vendor connector implements.

A connector is a stateless translator. It reads pages of changes from a cursor, fetches records
by id, applies batches of writes with per-item results, describes objects, and decodes webhooks.
Values are vendor-native: field names are the vendor's (`Email`, `email`, `emailaddress1`); the
engine's mapping layer turns them into canonical values. Relationships travel as `links`, named by
a vendor-neutral role (`company`, `contact`, `deal`, `account`, ...), so the engine can resolve them
through its identity map whatever the vendor's form (foreign key, association, `@odata.bind`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NewType, Protocol, runtime_checkable

from crmsync.model.quick import quick_init

Cursor = NewType("Cursor", str)
"""An opaque, JSON-safe token; only the connector that issued it knows its contents."""

FieldType = Literal[
    "id",
    "string",
    "text",
    "email",
    "phone",
    "url",
    "boolean",
    "integer",
    "number",
    "currency",
    "percent",
    "date",
    "datetime",
    "picklist",
    "multipicklist",
    "reference",
    "address",
    "other",
]


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """One field as the vendor describes it: enough to check a mapping before writing."""

    name: str
    type: FieldType
    label: str = ""
    required: bool = False
    unique: bool = False
    external_id: bool = False
    read_only: bool = False
    custom: bool = False
    length: int | None = None
    picklist_values: tuple[str, ...] = ()
    # An unrestricted picklist (most of Salesforce's standard ones) also takes values it does not list.
    restricted: bool = True
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """An object (table, type) as the vendor describes it."""

    name: str
    label: str
    fields: Mapping[str, FieldSchema]
    id_field: str
    modstamp_field: str
    # Deal stages (HubSpot pipeline/stage ids, Salesforce StageName, Dataverse state/status) as
    # `stage id -> (label, is_closed, is_won)`; empty for objects without stages.
    stages: Mapping[str, tuple[str, bool, bool]] = field(default_factory=dict)

    def field(self, name: str) -> FieldSchema | None:
        return self.fields.get(name)


@quick_init
@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """A record as read from a CRM: vendor field values, its stamp, and its relationships."""

    object: str
    id: str
    fields: Mapping[str, Any]
    modified_at: datetime
    version: str | None = None
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Ids this record absorbed through a vendor merge (HubSpot hs_merged_object_ids, ...).
    merged_ids: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class Tombstone:
    """A record that is gone. With `merged_into`, it is not a delete but a re-point to the survivor."""

    object: str
    id: str
    deleted_at: datetime | None = None
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One page of changes. `cursor` resumes after this page; `more` says whether to ask again now."""

    upserts: tuple[RemoteRecord, ...]
    tombstones: tuple[Tombstone, ...]
    cursor: Cursor
    more: bool


WriteKind = Literal["create", "update", "upsert", "delete", "merge"]


@quick_init
@dataclass(frozen=True, slots=True)
class WriteOp:
    """One write. `ref` is the caller's key for matching results (the canonical id).

    `create`/`upsert` carry `external_id` (field, value) so a retried create updates instead of
    duplicating; `update`/`delete` carry the remote `id`. `links` sets (id) or clears (None) a
    relationship by role. `merge` (only for objects the connector `merges`) folds the record `id`
    into the record `into` with the vendor's own merge; its result's `id` is the survivor's id
    afterwards (a vendor may give the merged record a new one).
    """

    kind: WriteKind
    ref: str
    id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    external_id: tuple[str, str] | None = None
    links: Mapping[str, str | None] = field(default_factory=dict)
    into: str | None = None


ErrorClass = Literal["invalid", "not_found", "duplicate", "conflict", "retryable", "auth", "fatal"]

ErrorScope = Literal["call", "record"]
"""Whom a write error is about. `call`: the request failed as a whole (transport, 5xx, 429, quota, auth, an
unreadable answer) or the vendor answered that its service, not the record, refused (a rate limit reported per
item); every item of the call shares it. `record`: the vendor took the call and reported this record's own outcome
(a 207 item, a collection item, a `$batch` part), or the connector refused the op before sending it."""


@quick_init
@dataclass(frozen=True, slots=True)
class WriteError:
    """Why one item failed, in the vendor's words, classified by what to do next and scoped to call or record.

    The scope tells an outage from a record's own trouble: a batch whose every write failed retryably at the
    call is a CRM down or throttling; one whose writes each met a retryable record error (row locks) is not.
    It defaults to `call`, the cautious reading (an outage must never spend a record's attempts); connectors
    set `record` where the vendor answered for the record.
    """

    classification: ErrorClass
    code: str
    message: str
    fields: tuple[str, ...] = ()
    existing_id: str | None = None  # duplicates: the record that already holds the key
    scope: ErrorScope = "call"

    @property
    def retryable(self) -> bool:
        return self.classification == "retryable"


@quick_init
@dataclass(frozen=True, slots=True)
class WriteResult:
    ref: str
    ok: bool
    id: str | None = None
    created: bool = False
    error: WriteError | None = None


HintKind = Literal["changed", "deleted", "merged", "associations"]


@dataclass(frozen=True, slots=True)
class ChangeHint:
    """A webhook's claim that a record changed. The engine re-reads the record; it never trusts values."""

    object: str
    id: str
    kind: HintKind
    occurred_at: datetime | None = None
    event_id: str | None = None
    merged_into: str | None = None


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from a CRM. Vendor quirks stay behind it."""

    @property
    def connection(self) -> str:
        """The configured connection name (used in every error message)."""
        ...

    @property
    def vendor(self) -> str: ...

    async def describe(self, object: str) -> ObjectSchema: ...

    def changes(
        self, object: str, cursor: Cursor | None, *, fields: Sequence[str] | None = None
    ) -> AsyncIterator[ChangePage]:
        """Pages of upserts and tombstones since `cursor` (everything when None), in order."""
        ...

    async def fetch(
        self, object: str, ids: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord | Tombstone]:
        """Current state of these records; a missing or merged-away id comes back as a Tombstone."""
        ...

    async def apply(self, object: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply writes in the vendor's batch shapes; one result per op, in order; never all-or-nothing."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Merging(Protocol):
    """A connector that can apply `WriteOp("merge")` with the vendor's merge, for some objects.

    Kept apart from `Connector` so that connectors (and test doubles) without a merge need nothing.
    """

    def merges(self, object: str) -> bool:
        """Whether `object` records can be merged here (else a merge counterpart goes by the delete policy)."""
        ...


def can_merge(connector: object, object: str) -> bool:
    """Whether the engine may send `WriteOp("merge")` for `object` to this connector (None: not configured)."""
    return isinstance(connector, Merging) and connector.merges(object)


@runtime_checkable
class BatchedWrites(Protocol):
    """A connector that sends writes of one kind in vendor batches of a known size (engine rounds fill them)."""

    def write_batch_size(self, object: str) -> int:
        """How many writes of one kind (create, update, ...) to `object` one request carries at most.

        (Of any kinds together, when the connector is also `MixedWriteBatches`.)
        """
        ...


def write_batch_size(connector: object, object: str) -> int | None:
    """The connector's vendor batch size for `object`, or None when it does not say (a test double)."""
    return connector.write_batch_size(object) if isinstance(connector, BatchedWrites) else None


@runtime_checkable
class MixedWriteBatches(Protocol):
    """A connector whose one vendor batch carries writes of every kind together (Dataverse `$batch`).

    The engine then fills its batches with writes of any kind, instead of one batch per kind.
    """

    def write_batch_mixes_kinds(self, object: str) -> bool: ...


def write_batch_mixes_kinds(connector: object, object: str) -> bool:
    """Whether one vendor batch of writes to `object` may mix creates, updates and deletes."""
    return isinstance(connector, MixedWriteBatches) and connector.write_batch_mixes_kinds(object)


@runtime_checkable
class UnstampedLinks(Protocol):
    """A connector whose records' links change without touching their modification stamp (HubSpot's associations).

    An incremental read never sees such a change, so the engine reads the links of the records it holds
    (`read_links`) and reads again the records whose links moved.
    """

    def unstamped_links(self, object: str) -> bool:
        """Whether `object` records' links may change unseen by `changes()` (and are to be scanned)."""
        ...

    def link_scan_size(self, object: str) -> int:
        """How many records one `read_links` call covers with one request per role."""
        ...

    async def read_links(
        self, object: str, ids: Sequence[str], roles: Sequence[str]
    ) -> dict[str, dict[str, tuple[str, ...]]]:
        """The current links of these records by role (in `RemoteRecord.links` form; a gone id has none)."""
        ...


@runtime_checkable
class FindsByValue(Protocol):
    """A connector that finds an object's records by a field's value (email), so a create can look first.

    The engine asks before creating people in a CRM where the person may have been typed meanwhile (the native
    HubSpot-Salesforce connector looks up by email the same way); kept apart so that test doubles need nothing.
    """

    def finds_by(self, object: str, field: str) -> bool:
        """Whether `find_by` can look `object` records up by `field`."""
        ...

    async def find_by(
        self, object: str, field: str, values: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[RemoteRecord]:
        """The live records whose `field` equals one of `values` (case-insensitively), read as `fetch` reads them.

        Batched within the vendor's limits: one request for the few hundred values of a round of creates.
        """
        ...


def can_find_by(connector: object, object: str, field: str) -> bool:
    """Whether the engine may look `object` records up by `field` in this connector before creating there."""
    return isinstance(connector, FindsByValue) and connector.finds_by(object, field)


class WebhookDecoder(Protocol):
    """Verifies and decodes one vendor's change notifications."""

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise SignatureError unless the request is authentic and fresh."""
        ...

    def decode(self, body: bytes) -> list[ChangeHint]: ...

    def acknowledge(self) -> tuple[int, dict[str, str], bytes]:
        """The response the vendor expects once the hints are durable (Salesforce wants a SOAP Ack)."""
        ...
