"""The I/O half of `crmsync check`: describe through the connectors, create what `--fix` can, check again."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import Connector, ObjectSchema
from crmsync.connectors.dynamics import DynamicsConnector
from crmsync.connectors.dynamics.customise import KEY_WAIT_S
from crmsync.connectors.hubspot import HubSpotConnector
from crmsync.engine.connections import open_connectors
from crmsync.engine.schema_check import CheckTarget, Discovery, check_config, check_targets
from crmsync.engine.schema_findings import Finding, Remedy
from crmsync.engine.schema_report import (
    AdminTask,
    admin_tasks,
    automatic_fixes,
    blocking,
    connection_failure,
    redact,
    secret_values,
)
from crmsync.errors import CrmSyncError

DEFAULT_TIMEOUT = 30.0
"""Seconds one describe() may take, retries included, before its connection is reported unreachable."""

# What a describe() may fail with that is the CRM's or the network's doing, not a bug of crmsync's.
_FAILURES = (CrmSyncError, httpx.HTTPError, OSError, TimeoutError)


class Describes(Protocol):
    """All discovery needs of a connector."""

    async def describe(self, object: str) -> ObjectSchema: ...


@dataclass(frozen=True, slots=True)
class FixOutcome:
    """What `--fix` did about one remedy: created it, found it already there, or failed (the vendor's words)."""

    remedy: Remedy
    created: bool
    error: str | None = None
    note: str | None = None  # made, but not usable yet (a Dataverse key whose index is still building)


KEY_BUILDING = (
    f"its alternate key is still building after {KEY_WAIT_S:g} s (a system job in Dataverse): "
    "run `crmsync check` again in a few minutes"
)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything `crmsync check` shows: findings (after any fixes), what was fixed, what is left for admins."""

    findings: tuple[Finding, ...]
    fixes: tuple[FixOutcome, ...] = ()
    admin: tuple[AdminTask, ...] = ()

    @property
    def blocked(self) -> bool:
        return blocking(self.findings)


async def discover(
    targets: Sequence[CheckTarget],
    connectors: Mapping[str, Describes],
    *,
    secrets: Mapping[str, Sequence[str]] | None = None,
    describe_timeout: float = DEFAULT_TIMEOUT,
) -> Discovery:
    """Describe every object the targets name, each once; a connection that fails on its first object is
    reported once and not asked again (an auth failure or a dead host says nothing about one object)."""
    objects: dict[str, list[str]] = {}
    for target in targets:
        listed = objects.setdefault(target.connection, [])
        if target.object_map.object not in listed:
            listed.append(target.object_map.object)
    schemas: dict[tuple[str, str], ObjectSchema] = {}
    failures: dict[tuple[str, str | None], Finding] = {}

    async def describe(name: str, object: str) -> ObjectSchema | BaseException:
        try:
            return await asyncio.wait_for(connectors[name].describe(object), describe_timeout)
        except _FAILURES as exc:
            return exc

    def failure(name: str, object: str | None, exc: BaseException) -> Finding:
        hidden = (secrets or {}).get(name, ())
        return connection_failure(name, object, exc, hidden, timeout=describe_timeout)

    async def connection(name: str, wanted: list[str]) -> None:
        first = await describe(name, wanted[0])
        if isinstance(first, BaseException):
            failures[(name, None)] = failure(name, None, first)
            return
        schemas[(name, wanted[0])] = first
        rest = await asyncio.gather(*(describe(name, object) for object in wanted[1:]))
        for object, result in zip(wanted[1:], rest, strict=True):
            if isinstance(result, BaseException):
                failures[(name, object)] = failure(name, object, result)
            else:
                schemas[(name, object)] = result

    await asyncio.gather(*(connection(name, wanted) for name, wanted in objects.items()))
    return Discovery(schemas, failures)


async def apply_fixes(
    remedies: Sequence[Remedy],
    connectors: Mapping[str, Connector],
    *,
    secrets: Mapping[str, Sequence[str]] | None = None,
    call_timeout: float = DEFAULT_TIMEOUT,
) -> tuple[FixOutcome, ...]:
    """Create what the vendors' APIs can create: HubSpot's unique external-id properties, and Dataverse's
    external-id columns with their alternate keys (waiting for each key's index, a system job there).

    Salesforce custom fields need the Metadata API or Setup, which crmsync does not call, so those
    remedies never reach here (admin tasks list them).
    """
    outcomes: list[FixOutcome] = []
    for remedy in remedies:
        connector = connectors.get(remedy.connection)
        try:
            if isinstance(connector, HubSpotConnector):
                made = await asyncio.wait_for(connector.ensure_external_id_property(remedy.object), call_timeout)
                outcomes.append(FixOutcome(remedy, made))
            elif isinstance(connector, DynamicsConnector):
                budget = call_timeout + KEY_WAIT_S  # the key's index is waited for on top of the calls
                keyed = await asyncio.wait_for(connector.ensure_external_id_key(remedy.object), budget)
                note = None if keyed.active else KEY_BUILDING
                outcomes.append(FixOutcome(remedy, keyed.created, note=note))
            else:
                outcomes.append(FixOutcome(remedy, False, f"{remedy.vendor} fields cannot be created through its API"))
        except _FAILURES as exc:
            hidden = (secrets or {}).get(remedy.connection, ())
            message = redact(str(exc) or type(exc).__name__, hidden).removeprefix(f"{remedy.connection}: ")
            outcomes.append(FixOutcome(remedy, False, message))
    return tuple(outcomes)


async def run_check(
    config: SyncConfig,
    *,
    fix: bool = False,
    describe_timeout: float = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
) -> CheckReport:
    """Check the configuration against the CRMs; with `fix`, create what can be created and check again."""
    targets = check_targets(config)
    secrets = {name: secret_values(connection) for name, connection in config.connections.items()}
    async with open_connectors(config, client=client) as connectors:
        discovery = await discover(targets, connectors, secrets=secrets, describe_timeout=describe_timeout)
        findings = check_config(config, discovery)
        outcomes: tuple[FixOutcome, ...] = ()
        remedies = automatic_fixes(findings) if fix else ()
        if remedies:
            outcomes = await apply_fixes(remedies, connectors, secrets=secrets, call_timeout=describe_timeout)
            discovery = await discover(targets, connectors, secrets=secrets, describe_timeout=describe_timeout)
            findings = check_config(config, discovery)
    return CheckReport(tuple(findings), outcomes, admin_tasks(findings, config))


__all__ = ["DEFAULT_TIMEOUT", "CheckReport", "Describes", "FixOutcome", "apply_fixes", "discover", "run_check"]
