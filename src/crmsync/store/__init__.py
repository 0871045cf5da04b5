"""The state store: tables, migrations, repositories and the jobs queue (DESIGN §3)."""

from crmsync.store.errors import LeaseLostError, StaleRecordError, StoreVersionError
from crmsync.store.store import Store, Transaction, open_store, utc_now
from crmsync.store.values import (
    AuditEntry,
    Clock,
    Conflict,
    ConflictSide,
    GoldenRecord,
    Job,
    JobStatus,
    Link,
    NewJob,
    Provenance,
    RetryPolicy,
    Shadow,
    SyncError,
    SyncErrorReport,
    SyncOperation,
)

__all__ = [
    "AuditEntry",
    "Clock",
    "Conflict",
    "ConflictSide",
    "GoldenRecord",
    "Job",
    "JobStatus",
    "LeaseLostError",
    "Link",
    "NewJob",
    "Provenance",
    "RetryPolicy",
    "Shadow",
    "StaleRecordError",
    "Store",
    "StoreVersionError",
    "SyncError",
    "SyncErrorReport",
    "SyncOperation",
    "Transaction",
    "open_store",
    "utc_now",
]
