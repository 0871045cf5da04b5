"""The `connections:` section: one connector settings object per named CRM, credentials from env or files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, cast, get_args

from pydantic import BaseModel, SecretStr, ValidationError

from crmsync.config.problems import PathKey, pydantic_issues
from crmsync.config.secrets import Sources, resolve
from crmsync.config.values import VENDORS, Connection, ConnectorSettings, Vendor
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.mapping import ConfigIssue, YamlDocument

SETTINGS: dict[Vendor, type[BaseModel]] = {
    "salesforce": SalesforceSettings,
    "hubspot": HubSpotSettings,
    "dynamics": DynamicsSettings,
}
CONNECTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_PLACEHOLDER = SecretStr("<unresolved>")


@cache
def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields typed SecretStr (or SecretStr | None): they only accept `{env: …}` or `{file: …}`."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if info.annotation is SecretStr or SecretStr in get_args(info.annotation)
    )


def build_connections(
    doc: YamlDocument, section: Any, sources: Sources, issues: list[ConfigIssue]
) -> dict[str, Connection]:
    """Validate `connections:`; mistakes go to `issues` and the connection is left out."""
    root: PathKey = ("connections",)
    if section is None:
        issues.append(doc.issue(root, "expected at least one connection: `<name>: {vendor: salesforce, ...}`"))
        return {}
    if not isinstance(section, Mapping):
        issues.append(doc.issue(root, "expected a mapping of connection names to their settings"))
        return {}
    built: dict[str, Connection] = {}
    for name, raw in section.items():
        path = (*root, str(name))
        if not isinstance(name, str) or not CONNECTION_NAME.match(name):
            issues.append(doc.issue(path, "a connection name starts with a letter (letters, digits, _ and -)"))
            continue
        connection = _connection(doc, path, name, raw, sources, issues)
        if connection is not None:
            built[name] = connection
    return built


def _connection(
    doc: YamlDocument, path: PathKey, name: str, raw: Any, sources: Sources, issues: list[ConfigIssue]
) -> Connection | None:
    if not isinstance(raw, Mapping):
        issues.append(doc.issue(path, f"expected a mapping with `vendor:` ({', '.join(VENDORS)}) and its settings"))
        return None
    vendor = raw.get("vendor")
    if vendor is None:
        issues.append(doc.issue(path, f"missing required key 'vendor'; expected one of: {', '.join(VENDORS)}"))
        return None
    if vendor not in VENDORS:
        issues.append(doc.issue((*path, "vendor"), f"unknown vendor {vendor!r}; expected one of: {', '.join(VENDORS)}"))
        return None
    model = SETTINGS[cast(Vendor, vendor)]
    secrets = secret_fields(model)
    values: dict[str, Any] = {}
    unresolved: set[str] = set()
    for key, value in raw.items():
        if key == "vendor":
            continue
        resolved, issue = resolve(value, (*path, str(key)), doc, sources, secret=key in secrets)
        if issue is not None:
            issues.append(issue)
            unresolved.add(str(key))
            if key in secrets:
                values[key] = _PLACEHOLDER  # keeps "this flow needs a secret" from piling onto the real mistake
            continue
        values[key] = resolved
    try:
        settings = model.model_validate(values)
    except ValidationError as exc:
        errors = [
            err for err in exc.errors() if (str(err["loc"][0]) not in unresolved if err["loc"] else not unresolved)
        ]
        allowed = ("vendor", *model.model_fields)
        issues.extend(pydantic_issues(doc, path, errors, lambda loc: allowed if not loc else (), secret=secrets))
        return None
    return Connection(name, cast(Vendor, vendor), cast(ConnectorSettings, settings))
