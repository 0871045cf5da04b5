"""The JSON API's request and response bodies (pydantic), read from the engine's operator views by attribute."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from crmsync.model.values import ObjectKind

Value = bool | int | float | datetime | date | str | list[str] | None
"""A canonical field value as JSON: a multi-select is a list; dates and times are ISO 8601 strings."""


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class Error(BaseModel):
    error: str = Field(description="what went wrong, as a short code")
    message: str = Field(description="what to do about it")


class WhoAmI(_View):
    name: str
    role: str
    via: str


class KindHealthModel(_View):
    connection: str
    kind: str
    linked: int
    in_sync: int
    pending: int
    failing: int
    excluded: int
    last_change: datetime | None
    oldest_pending: datetime | None
    lag_s: float = Field(description="seconds the oldest queued write of this connection and kind has waited")


class LimitsModel(_View):
    connection: str
    vendor: str
    calls: int
    waits: int
    daily_used: int | None
    daily_limit: int | None
    quota_share: float | None
    paused_for_s: float
    breaker_paused_s: float
    state: str = Field(description="ok, throttled (the vendor asked to back off), paused (failing), quota_low")


class PassModel(_View):
    trigger: str
    started: datetime
    seconds: float
    ok: bool
    message: str


class VolumeModel(_View):
    start: datetime
    changes: int = Field(description="field changes recorded in the audit")
    records: int = Field(description="distinct records changed")
    errors: int = Field(description="sync errors last seen in this bucket")


class BlockedWaitModel(_View):
    kind: str
    canonical_id: str
    connection: str
    parent: str = Field(description="the canonical id of the parent whose write failed")
    error: str = Field(description="E12 (a sync error) or J34 (a job out of attempts, or retrying) that holds it")
    retrying: bool = Field(description="whether the parent's write is tried again on its own")


class PendingModel(_View):
    waiting: dict[str, int] = Field(description="object kind → records waiting for a parent crmsync has not synced")
    reads: dict[str, int] = Field(description="connection → records queued to read again")
    writes: dict[str, int] = Field(description="connection → writes queued")
    other: int = Field(description="deletes and merges queued")
    links: dict[str, int] = Field(
        description="connection → records written there without a link to a parent not synced there yet"
    )
    blocked: list[BlockedWaitModel] = Field(
        default_factory=list,
        description="records whose link waits for a parent whose write to that connection failed, and what holds it",
    )


class OverviewModel(_View):
    generated_at: datetime
    totals: dict[str, int]
    health: list[KindHealthModel]
    limits: list[LimitsModel]
    open_conflicts: int
    sync_errors: int
    dead_jobs: int
    queue_depth: int
    oldest_pending: datetime | None
    pending: PendingModel = Field(description="what the queue holds for the next pass (dead jobs aside)")
    last_pass: PassModel | None
    last_ok_pass: PassModel | None
    volume: list[VolumeModel]


class LinkModel(_View):
    connection: str
    object: str
    remote_id: str


class RecordLinkModel(LinkModel):
    url: str | None = Field(description="the record's page in that CRM, or the emulator's API URL of it")


class SideModel(_View):
    connection: str
    value: Value
    at: datetime | None


class ConflictModel(_View):
    id: int
    canonical_id: str
    kind: ObjectKind | None
    label: str | None
    field: str
    base: Value
    has_base: bool
    sides: list[SideModel]
    golden: Value
    created_at: datetime
    resolved: bool
    resolution: Value
    resolved_by: str | None
    resolved_at: datetime | None


class ConflictDetailModel(_View):
    conflict: ConflictModel
    links: list[LinkModel]
    fields: dict[str, Value]
    deleted: bool
    other_conflicts: list[str]


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    take: str | None = Field(default=None, description="the connection whose side wins, or `golden`")
    value: str | None = Field(default=None, description="a value typed in instead (empty: blank)")


class BulkResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="every open conflict on this canonical field…")
    take: str = Field(description="…is settled with this connection's side")
    kind: ObjectKind | None = Field(default=None, description="only records of this kind")


class QueuedWriteModel(_View):
    connection: str
    operation: str
    fields: list[str]
    job_id: int


class ResolutionModel(_View):
    conflict_id: int
    canonical_id: str
    kind: str
    field: str
    previous: Value
    value: Value
    source: str | None
    by: str
    at: datetime
    version: int
    writes: list[QueuedWriteModel]
    closed: list[str]


class SkippedModel(BaseModel):
    id: int
    reason: str


class BulkResolutionModel(BaseModel):
    resolved: list[ResolutionModel]
    skipped: list[SkippedModel]


class SyncErrorModel(_View):
    id: int
    connection: str
    object: str
    kind: str | None
    operation: str
    message: str
    canonical_id: str | None
    remote_id: str | None
    field: str | None
    code: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    retryable: bool


class ErrorGroupModel(_View):
    key: str
    connection: str
    object: str
    kind: str | None
    field: str | None
    message: str
    errors: list[SyncErrorModel]
    retryable_ids: list[int]


class DuplicateGroupModel(_View):
    connection: str
    object: str
    kind: str | None
    canonical_id: str | None
    duplicates: list[str]
    error_ids: list[int]
    message: str
    last_seen: datetime


class DeadJobModel(_View):
    id: int
    job_kind: str
    role: str
    object_kind: str | None
    connection: str | None
    key: str
    canonical_id: str | None
    remote_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime


class ErrorsModel(_View):
    groups: list[ErrorGroupModel]
    duplicates: list[DuplicateGroupModel]
    dead_jobs: list[DeadJobModel]


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_ids: list[int] = Field(default_factory=list, description="sync errors to re-queue (E<id>)")
    job_ids: list[int] = Field(default_factory=list, description="dead jobs to re-queue (J<id>)")
    all: bool = Field(default=False, description="every retryable sync error and every dead job")


class RequeuedModel(_View):
    what: str
    id: int
    job_kind: str
    key: str
    jobs: int


class NotRetriedModel(_View):
    what: str
    id: int
    reason: str


class RetryModel(_View):
    requeued: list[RequeuedModel]
    skipped: list[NotRetriedModel]


class RecordHitModel(_View):
    canonical_id: str
    kind: str
    label: str
    email: str | None
    deleted: bool
    links: list[LinkModel]
    matched_on: str


class SearchModel(BaseModel):
    query: str
    hits: list[RecordHitModel]


class ShadowModel(_View):
    connection: str
    value: Value
    state: str


class AuditModel(_View):
    field: str
    old: Value
    new: Value
    connection: str
    reason: str
    at: datetime


class FieldModel(_View):
    field: str
    value: Value
    in_golden: bool
    source: str | None
    at: datetime | None
    rule: str
    shadows: list[ShadowModel]
    conflicts: list[ConflictModel]
    history: list[AuditModel]


class MergedIntoModel(_View):
    canonical_id: str = Field(description="the record a vendor merge folded this one into: the person lives on there")
    connection: str = Field(description="the CRM whose merge it was")
    at: datetime


class FormerIdModel(_View):
    connection: str
    remote_id: str = Field(description="an id the record had there until it was deleted or merged away there")
    at: datetime = Field(description="when crmsync unlinked it")
    reason: str = Field(description="how it went: the delete's policy, or `merged away`")


class DeletionModel(_View):
    connection: str = Field(description="the CRM it was deleted in, or who chose the delete over an edit")
    reason: str = Field(description="the delete policy or resolution: propagate, delete_wins, manual")
    at: datetime


class DeleteStepModel(_View):
    connection: str = Field(description="the CRM it was deleted in (for `manual`, who chose the delete)")
    how: str = Field(
        description="propagate, delete_wins, manual, ignore, archive, recreated, parked, held (by the mass-delete "
        "breaker), back (entered there again)"
    )
    at: datetime | None
    remote_id: str | None = Field(description="the id deleted there, when known")
    archive_field: str | None = Field(description="`archive`: the field set on the record in the other CRMs")
    archive_value: Value
    deleted_by_crmsync: list[str] = Field(description="a spread delete: the CRMs crmsync deleted the record in")
    still_to_delete: list[str] = Field(description="a spread delete: the CRMs whose delete is not written yet")


class RecordModel(BaseModel):
    canonical_id: str
    kind: str
    label: str | None
    stored: bool
    deleted: bool
    version: int
    updated_at: datetime | None
    links: list[RecordLinkModel]
    gone: list[str]
    fields: list[FieldModel]
    writes: dict[str, str]
    errors: list[SyncErrorModel]
    merged_into: MergedIntoModel | None = Field(description="set when a vendor merge retired this record")
    former_ids: list[FormerIdModel] = Field(description="ids unlinked when deleted or merged away there, oldest first")
    deletion: DeletionModel | None = Field(None, description="set when the record is deleted everywhere")
    deletes: list[DeleteStepModel] = Field(
        default_factory=list, description="each delete read from a CRM and what crmsync made of it, oldest first"
    )
