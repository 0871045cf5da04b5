"""Errors the state store raises: a refused schema version and a lost job lease."""

from __future__ import annotations

from crmsync.errors import CrmSyncError, FatalError


class StoreVersionError(FatalError):
    """The state database was written by a newer crmsync than this one; refusing to touch it."""


class LeaseLostError(CrmSyncError):
    """The job is no longer leased to this worker (reaped or finished elsewhere): roll back its effects."""


class StaleRecordError(CrmSyncError):
    """A golden record changed since it was read (optimistic version check failed)."""
