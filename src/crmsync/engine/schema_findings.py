"""What `crmsync check` finds: one finding, its severity, and the remedy for a missing external-id field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crmsync.model.values import ObjectKind

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Remedy:
    """An external-id field that must be created: by `--fix` through the vendor's API, else by an administrator.

    `configure` says crmsync.yaml does not name the field yet: the connection's setting must be added too.
    """

    vendor: str
    connection: str
    object: str
    field: str
    automatic: bool
    configure: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of the check. An `error` blocks syncing; a `warning` is data that will not travel."""

    severity: Severity
    connection: str
    object: str
    field: str | None
    message: str
    fix: str | None = None
    remedy: Remedy | None = None


@dataclass(frozen=True, slots=True)
class At:
    """Where a finding is: one object of one connection, for one canonical kind."""

    connection: str
    vendor: str
    object: str
    kind: ObjectKind

    def finding(
        self,
        severity: Severity,
        field: str | None,
        message: str,
        fix: str | None = None,
        remedy: Remedy | None = None,
    ) -> Finding:
        return Finding(severity, self.connection, self.object, field, message, fix, remedy)


__all__ = [
    "SEVERITIES",
    "At",
    "Finding",
    "Remedy",
    "Severity",
]
