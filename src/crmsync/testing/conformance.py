"""The conformance contract: what a connector/emulator pair must describe so the generic cases can run.

A `ConformanceTarget` adapts one connector and its emulator to the suite: which objects play the
company/contact/deal/activity roles, how to build the emulator with the test configuration the
connector needs (external-id fields declared), how to build the connector against it, sample field
values, and how a *user* changes data out of band (through the vendor API with a raw client, or the
emulator's control plane). The cases in `crmsync.testing.cases_*` are plain async functions taking
a target and a transport, so other projects can run them against their own connector/emulator pairs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from starlette.types import ASGIApp

from crmsync.connectors.base import Connector

if TYPE_CHECKING:
    from crmsync.testing.rig import Rig

Role = Literal["company", "contact", "deal", "activity"]
ROLES: tuple[Role, ...] = ("company", "contact", "deal", "activity")
Transport = Literal["asgi", "loopback"]


class ConformanceFailure(AssertionError):
    """A connector broke the contract; the message says which case, target and records."""


def expect(condition: bool, message: str) -> None:
    """`assert` that survives `python -O` and reads well in a shipped package."""
    if not condition:
        raise ConformanceFailure(message)


@dataclass(frozen=True)
class ConnectorOptions:
    """Per-case connector settings a target maps onto its vendor's settings model."""

    small_pages: bool = False  # the smallest page size the connector accepts (see `small_page`)
    tight_limits: bool = False  # limits matching the emulator built with `tight_limits` settings


@dataclass(frozen=True)
class MergeOutcome:
    """After a user merge: the surviving id and every id that now re-points to it."""

    survivor: str
    absorbed: tuple[str, ...]


class ConformanceTarget(Protocol):
    """One connector/emulator pair as the generic cases see it."""

    vendor: str
    # role -> vendor-native object name ("Account", "companies", "account", ...)
    objects: Mapping[Role, str]
    # role -> the link roles written on create and expected back on read (activities: a vendor's shape)
    link_roles: Mapping[Role, tuple[str, ...]]
    # roles whose records a user can merge (Salesforce/Dataverse: accounts and contacts; HubSpot: more)
    mergeable: tuple[Role, ...]
    # the page size the connector uses with `ConnectorOptions(small_pages=True)`
    small_page: int
    # statuses the emulator answers over-limit calls with (429; Salesforce's 403 REQUEST_LIMIT_EXCEEDED)
    limit_statuses: frozenset[int]
    # whether the vendor's throttling response carries Retry-After (Salesforce's 403 does not)
    rate_limit_retry_after: bool
    # regular expressions over request paths: the vendor API (faults go there, not to the token endpoint),
    # the batch write endpoints (`partial_batch` faults) and the token endpoint (refresh counting)
    api_path: str
    batch_write_path: str
    token_path: str
    # emulator settings with limits a careless connector would exceed within a test (a small daily
    # allocation, few concurrent requests); the connector with `tight_limits` is configured to match
    tight_limits: Mapping[str, Any]
    # whether `tight_limits` includes a daily allocation the connector must stop short of (reserve share)
    tight_daily_quota: bool
    # case name -> why this target cannot run it (the case is skipped with that reason)
    unsupported: Mapping[str, str]

    def emulator(self, **settings: Any) -> ASGIApp:
        """A fresh emulator app configured for the connector (external-id fields declared, ...)."""
        ...

    async def connector(self, rig: Rig, options: ConnectorOptions) -> Connector:
        """The connector under test, on `rig.client` with `rig.sleep`, pointed at `rig.base_url`."""
        ...

    def external_id_field(self, role: Role) -> str: ...

    def sample(self, role: Role, n: int) -> dict[str, Any]:
        """Valid, distinct field values for the n-th record of a role."""
        ...

    def edited(self, role: Role, n: int) -> dict[str, Any]:
        """A change to make to the n-th record (a user edit or an update op)."""
        ...

    def invalid(self, role: Role) -> dict[str, Any]:
        """Field values the vendor rejects with a validation error (bad email, too long, ...)."""
        ...

    def required_fields(self, role: Role) -> tuple[str, ...]:
        """Fields the vendor's describe must report as required."""
        ...

    def picklist_field(self, role: Role) -> str | None:
        """A field whose describe must list picklist values (None when the object has none)."""
        ...

    async def user_create(self, rig: Rig, role: Role, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create records as a user would (not through the connector); returns their ids in order."""
        ...

    async def user_update(self, rig: Rig, role: Role, record_id: str, fields: Mapping[str, Any]) -> None: ...

    async def user_delete(self, rig: Rig, role: Role, record_id: str) -> None: ...

    async def user_merge(self, rig: Rig, role: Role, survivor: str, victim: str) -> MergeOutcome: ...

    async def remote_records(self, rig: Rig, role: Role) -> dict[str, str | None]:
        """Every live record of a role (independent raw read): id -> its external-id value (None if unset)."""
        ...

    async def expire_tokens(self, rig: Rig) -> None:
        """Expire every access token the emulator issued (the connector's next call gets a 401)."""
        ...


CaseFunc = Callable[[ConformanceTarget, Transport], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One generic conformance case and the transports it runs over."""

    name: str
    func: CaseFunc
    transports: tuple[Transport, ...] = ("asgi",)
    doc: str = ""


def conformance_cases() -> Iterator[Case]:
    """Every generic case, in a stable order."""
    from crmsync.testing.suite import CASES

    return iter(CASES)


def cases_for(target: ConformanceTarget) -> Iterator[tuple[Case, Transport, str | None]]:
    """(case, transport, skip reason or None) for every case this target should run."""
    for case in conformance_cases():
        for transport in case.transports:
            yield case, transport, target.unsupported.get(case.name)


async def run_case(target: ConformanceTarget, name: str, transport: Transport = "asgi") -> None:
    """Run one case by name (raises ConformanceFailure when the connector breaks the contract)."""
    for case in conformance_cases():
        if case.name == name:
            await case.func(target, transport)
            return
    raise KeyError(f"no conformance case named {name!r}")
