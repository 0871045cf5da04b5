"""`crmsync check`'s findings reported: secrets scrubbed, failures worded, what blocks, what --fix or admins create."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from crmsync.config.values import Connection, SyncConfig
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.engine.schema_check import SETTING_NAMES
from crmsync.engine.schema_findings import Finding, Remedy
from crmsync.errors import AuthError, ConfigError, CrmSyncError, QuotaExhaustedError, RetryableError


@dataclass(frozen=True, slots=True)
class AdminTask:
    """What an administrator must create in one connection, as rows to copy, and the crmsync.yaml line to add."""

    connection: str
    vendor: str
    instructions: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    config: str | None = None


def secret_values(connection: Connection) -> tuple[str, ...]:
    """The connection's secrets in clear, only so error messages can be scrubbed of them."""
    found: list[str] = []
    for name in type(connection.settings).model_fields:
        value = getattr(connection.settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    return tuple(found)


def redact(message: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:  # a 1-3 character "secret" would blank out ordinary words
            message = message.replace(secret, "***")
    return message


def connection_failure(
    connection: str, object: str | None, error: BaseException, secrets: Iterable[str] = (), *, timeout: float = 0
) -> Finding:
    """Why describe() failed, as one error line naming the connection (and the object, when only it failed)."""
    detail = redact(str(error), secrets).removeprefix(f"{connection}: ")
    if isinstance(error, TimeoutError):
        message = f"no answer within {timeout:g} s: the host is unreachable or too slow (network errors are retried)"
        fix = "check the URL in crmsync.yaml and the network; `--timeout` waits longer"
    elif isinstance(error, AuthError):
        message, fix = f"authentication failed: {detail}", "check the connection's credentials"
    elif isinstance(error, QuotaExhaustedError):
        message, fix = f"API quota used up: {detail}", "wait for the quota window to roll"
    elif isinstance(error, RetryableError):
        message, fix = f"unreachable: {detail}", "check the URL in crmsync.yaml and that the CRM is up"
    elif isinstance(error, ConfigError):
        message, fix = f"refused: {detail}", "check the connection's settings and permissions"
    elif isinstance(error, CrmSyncError):
        message, fix = f"failed: {detail}", None
    else:
        message, fix = f"failed: {type(error).__name__}: {detail}", None
    where = object if object is not None else "(connection)"
    return Finding("error", connection, where, None, message, fix)


def blocking(findings: Iterable[Finding]) -> bool:
    """Whether something stops syncing (an error); warnings and info never do."""
    return any(finding.severity == "error" for finding in findings)


def automatic_fixes(findings: Iterable[Finding]) -> tuple[Remedy, ...]:
    """What `--fix` can create through the vendor's API, once each."""
    found = (f.remedy for f in findings if f.remedy is not None and f.remedy.automatic and not f.remedy.configure)
    return tuple(dict.fromkeys(found))


def admin_tasks(findings: Iterable[Finding], config: SyncConfig) -> tuple[AdminTask, ...]:
    """What administrators must create, one task per connection, with the crmsync.yaml setting to add."""
    grouped: dict[str, list[Remedy]] = {}
    for finding in findings:
        remedy = finding.remedy
        if remedy is not None and (remedy.configure or not remedy.automatic):
            listed = grouped.setdefault(remedy.connection, [])
            if remedy not in listed:
                listed.append(remedy)
    return tuple(_task(config.connection(name), remedies) for name, remedies in grouped.items())


def _task(connection: Connection, remedies: Sequence[Remedy]) -> AdminTask:
    config = _config_line(connection, remedies)
    name = connection.name
    if connection.vendor == "salesforce":
        return AdminTask(
            name,
            "salesforce",
            f"Salesforce connection {name!r}: create these custom fields in Setup → Object Manager → <object> → "
            "Fields & Relationships → New (or deploy them as CustomField metadata):",
            ("object", "field API name", "type", "flags"),
            tuple((r.object, r.field, "Text(64)", "External ID, Unique (case sensitive)") for r in remedies),
            config,
        )
    if connection.vendor == "dynamics":
        return AdminTask(
            name,
            "dynamics",
            f"Dataverse connection {name!r}: add the setting below, then `crmsync check --fix` creates these columns "
            "and their alternate keys (or, in Power Apps → Tables → <table>, add the column, then under Keys a new "
            "alternate key made of that column alone):",
            ("table", "column logical name", "type", "alternate key"),
            tuple((r.object, r.field, "Single line of text (100)", f"key on {r.field} only") for r in remedies),
            config,
        )
    return AdminTask(
        name,
        connection.vendor,
        f"HubSpot connection {name!r}: add the setting below, then `crmsync check --fix` creates these properties:",
        ("object", "property internal name", "type", "flags"),
        tuple((r.object, r.field, "single-line text", "unique values (hasUniqueValue)") for r in remedies),
        config,
    )


def _config_line(connection: Connection, remedies: Sequence[Remedy]) -> str | None:
    """The complete setting for crmsync.yaml: what is configured already plus what is missing."""
    added = {r.object: r.field for r in remedies if r.configure}
    if not added:
        return None
    settings = connection.settings
    current: Mapping[str, str]
    if isinstance(settings, SalesforceSettings):
        current = settings.external_id_fields
    elif isinstance(settings, HubSpotSettings):
        current = settings.external_id_properties
    else:
        current = settings.external_ids
    merged = {**current, **added}
    body = ", ".join(f"{key}: {value}" for key, value in merged.items())
    return f"{SETTING_NAMES[connection.vendor]}: {{{body}}}"


__all__ = [
    "AdminTask",
    "admin_tasks",
    "automatic_fixes",
    "blocking",
    "connection_failure",
    "redact",
    "secret_values",
]
