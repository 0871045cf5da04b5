"""Change tracking: delta tokens (`<version>!<timestamp>`), delta rows and `$deletedEntity` tombstones."""

from __future__ import annotations

import time
from dataclasses import dataclass

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import DataverseState

_FORMAT = "%m/%d/%Y %H:%M:%S"


@dataclass(frozen=True, slots=True)
class DeltaToken:
    version: int
    stamp_ms: int

    def render(self) -> str:
        return f"{self.version}!{time.strftime(_FORMAT, time.gmtime(self.stamp_ms // 1000))}"

    def carry(self) -> str:
        return f"{self.version}.{self.stamp_ms}"


def current_token(state: DataverseState) -> DeltaToken:
    store = state.runtime.store
    return DeltaToken(store.version, state.runtime.clock.now_ms())


def from_carry(text: str) -> DeltaToken | None:
    version, _, stamp = text.partition(".")
    if not version.isdigit() or not stamp.isdigit():
        return None
    return DeltaToken(int(version), int(stamp))


def parse_token(state: DataverseState, text: str) -> DeltaToken:
    version_text, bang, stamp_text = text.partition("!")
    try:
        if not bang or not version_text.isdigit():
            raise ValueError(text)
        parsed = time.strptime(stamp_text.strip(), _FORMAT)
    except ValueError:
        errors.bad_request("The $deltatoken value is not a valid change tracking token.", errors.QUERY)
    stamp_ms = int(_timegm(parsed)) * 1000
    horizon = state.runtime.clock.now_ms() - state.config.change_tracking_days * 86_400_000
    if stamp_ms < horizon:
        errors.fail(
            400,
            errors.EXPIRED_VERSION_STAMP,
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    return DeltaToken(int(version_text), stamp_ms)


def _timegm(parsed: time.struct_time) -> float:
    import calendar

    return calendar.timegm(parsed)


def changes_since(
    state: DataverseState, table: Table, token: DeltaToken
) -> tuple[list[StoredRecord], list[StoredRecord]]:
    """(new or updated live rows, deleted rows) after the token, each in change order."""
    updated: list[StoredRecord] = []
    deleted: list[StoredRecord] = []
    # Dataverse's token is a row version: the time beside it only dates the token for expiry.
    for record in state.collection(table).changed_after(token.version):
        (deleted if record.deleted_ms is not None else updated).append(record)
    return updated, deleted
