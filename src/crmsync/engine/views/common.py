"""What the operator views share: the operator's error, job kinds, vendor object names and record labels."""

from __future__ import annotations

from crmsync.config import SyncConfig
from crmsync.engine.merges import DUPLICATE
from crmsync.errors import CrmSyncError
from crmsync.model.values import OBJECT_KINDS, ObjectKind
from crmsync.store import GoldenRecord

WRITE_OPERATIONS: frozenset[str] = frozenset({"create", "update", "delete"})

_LABEL_FIELDS: tuple[tuple[str, ...], ...] = (("first_name", "last_name"), ("name",), ("subject",), ("domain",))


class OperatorError(CrmSyncError):
    """A request the operator can fix: an unknown id, an ambiguous record, a value of the wrong type."""


class NotFoundError(OperatorError):
    """The id the operator gave names nothing (no such conflict, record or sync error).

    Kept apart from the other operator errors so the API can answer 404 for it and 400 for a request that is wrong.
    """


def parse_job_kind(job_kind: str) -> tuple[str, ObjectKind | None, str | None]:
    """`write:contact:hubspot` → ("write", "contact", "hubspot"); other kinds keep only their role."""
    role, _, rest = job_kind.partition(":")
    kind, _, connection = rest.partition(":")
    if kind in OBJECT_KINDS and connection:
        return role, kind, connection
    return role, None, None


def kind_of_object(config: SyncConfig, connection: str, object: str) -> ObjectKind | None:
    """The canonical kind behind a connection's vendor object name (or a canonical kind given as is)."""
    if object in OBJECT_KINDS:
        return object
    found = config.connections.get(connection)
    if found is None:
        return None
    for kind in OBJECT_KINDS:
        if config.mappings.has(found.vendor, kind) and config.mappings.get(found.vendor, kind).object == object:
            return kind
    return None


def object_of_kind(config: SyncConfig, connection: str, kind: ObjectKind) -> str | None:
    """The vendor object name a connection keeps `kind` in."""
    found = config.connections.get(connection)
    if found is None or not config.mappings.has(found.vendor, kind):
        return None
    return config.mappings.get(found.vendor, kind).object


def is_duplicate(operation: object, code: object) -> bool:
    return operation == "link" and code == DUPLICATE


def label(golden: GoldenRecord | None) -> str | None:
    if golden is None:
        return None
    values = golden.record.fields
    for names in _LABEL_FIELDS:
        parts = [str(values[name]) for name in names if values.get(name) is not None]
        if parts:
            label = " ".join(parts)
            email = values.get("email")
            return f"{label} <{email}>" if email is not None and names[0] == "first_name" else label
    email = values.get("email")
    return None if email is None else str(email)


__all__ = [
    "WRITE_OPERATIONS",
    "NotFoundError",
    "OperatorError",
    "is_duplicate",
    "kind_of_object",
    "label",
    "object_of_kind",
    "parse_job_kind",
]
