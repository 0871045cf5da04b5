"""Load crmsync.yaml into a SyncConfig, listing every mistake at once with its file, line, column and key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crmsync.config.connections import CONNECTION_NAME, build_connections
from crmsync.config.objects import build_objects
from crmsync.config.problems import ConfigFileError, pydantic_issues
from crmsync.config.schema import TOP_LEVEL_KEYS, AlertsSection, ServiceSection, StateSection
from crmsync.config.secrets import Sources, resolve
from crmsync.config.values import VENDORS, SyncConfig, Vendor
from crmsync.mapping import (
    ConfigIssue,
    MappingConfigError,
    Mappings,
    YamlDocument,
    default_mappings,
    mappings_from_document,
    parse_yaml,
)

DEFAULT_FILE = "crmsync.yaml"


def load_config(path: Path | str = DEFAULT_FILE, *, environ: Mapping[str, str] | None = None) -> SyncConfig:
    """Read and validate a crmsync.yaml; ConfigFileError (a ConfigError) lists every mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        hint = "; `crmsync init` writes an example" if isinstance(exc, FileNotFoundError) else ""
        raise ConfigFileError([ConfigIssue(str(path), None, None, "", f"cannot read: {exc.strerror}{hint}")]) from None
    return parse_config(text, str(path), environ=environ, base_dir=path.resolve().parent)


def parse_config(
    text: str,
    file: str = DEFAULT_FILE,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> SyncConfig:
    """Validate configuration text. `environ` defaults to os.environ; relative paths resolve against `base_dir`."""
    try:
        doc = parse_yaml(text, file)
    except MappingConfigError as exc:
        raise ConfigFileError(exc.issues) from None
    sources = Sources(os.environ if environ is None else environ, base_dir or Path.cwd())
    issues: list[ConfigIssue] = []
    data = doc.data
    if not isinstance(data, Mapping):
        what = "the file is empty" if data is None else "expected a mapping at the top of the file"
        raise ConfigFileError([doc.issue((), f"{what}; expected the sections {', '.join(TOP_LEVEL_KEYS)}")])
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            issues.append(doc.issue((str(key),), f"unknown key {key!r}; expected one of: {', '.join(TOP_LEVEL_KEYS)}"))
    state_url = _state_url(doc, data.get("state"), sources, issues)
    service = _service(doc, data.get("service"), sources, issues)
    mappings = _mappings(doc, issues)
    connections = build_connections(doc, data.get("connections"), sources, issues)
    declared = _declared(data.get("connections"))
    objects = build_objects(doc, data.get("objects"), declared, connections, mappings, issues)
    if issues:
        # File order reads best: the user fixes them top to bottom.
        raise ConfigFileError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    return SyncConfig(doc.file, state_url, connections, objects, mappings, service)


def _declared(raw: Any) -> dict[str, Vendor | None]:
    """Every well-named connection in the file and its vendor (None if unknown), valid settings or not."""
    declared: dict[str, Vendor | None] = {}
    for name, section in raw.items() if isinstance(raw, Mapping) else ():
        if isinstance(name, str) and CONNECTION_NAME.match(name):
            vendor = section.get("vendor") if isinstance(section, Mapping) else None
            declared[name] = cast(Vendor, vendor) if vendor in VENDORS else None
    return declared


def _mappings(doc: YamlDocument, issues: list[ConfigIssue]) -> Mappings:
    try:
        return mappings_from_document(doc, ("mappings",))
    except MappingConfigError as exc:
        issues.extend(exc.issues)
        return default_mappings()  # so objects are still checked against the standard fields


def _service(doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]) -> ServiceSection:
    raw, reported = _alert_urls(doc, raw, sources, issues)
    try:
        return ServiceSection.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        # Alert URLs already reported (unreadable `{env:}`/`{file:}`, not a list) would be reported twice.
        errors = [err for err in exc.errors() if not any(err["loc"][: len(prefix)] == prefix for prefix in reported)]
        issues.extend(pydantic_issues(doc, ("service",), errors, _service_keys, secret=("urls",)))
        return ServiceSection()


def _service_keys(loc: tuple[str, ...]) -> tuple[str, ...]:
    if not loc:
        return tuple(ServiceSection.model_fields)
    return tuple(AlertsSection.model_fields) if loc == ("alerts",) else ()


def _alert_urls(
    doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]
) -> tuple[Any, list[tuple[str | int, ...]]]:
    """`service` with each alert URL's `{env:}` / `{file:}` read; the model locations of issues reported here."""
    alerts = raw.get("alerts") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or not isinstance(alerts, Mapping) or "urls" not in alerts:
        return raw, []
    urls = alerts["urls"]
    path = ("service", "alerts", "urls")
    if not isinstance(urls, list):
        issues.append(doc.issue(path, "expected a list of URLs, e.g. `urls: [{env: SLACK_WEBHOOK_URL}]`"))
        return raw, [("alerts", "urls")]
    values: list[Any] = []
    reported: list[tuple[str | int, ...]] = []
    for index, written in enumerate(urls):
        # secret=False: a plain URL may be written in the file (an internal relay); the model keeps each as SecretStr.
        value, issue = resolve(written, (*path, str(index)), doc, sources, secret=False)
        if issue is not None:
            issues.append(issue)
            reported.append(("alerts", "urls", index))
            value = written
        values.append(value)
    return {**raw, "alerts": {**alerts, "urls": values}}, reported


def _state_url(doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]) -> str:
    fallback = f"sqlite:///{sources.base_dir / 'crmsync.db'}"
    try:
        written = StateSection.model_validate({} if raw is None else raw).url
    except ValidationError as exc:
        issues.extend(pydantic_issues(doc, ("state",), exc.errors(), lambda loc: ("url",) if not loc else ()))
        if not isinstance(raw, Mapping) or "url" not in raw:
            return fallback
        written = raw["url"]  # still check the URL, so its mistakes are listed with the others
    path = ("state", "url")
    value, issue = resolve(written, path, doc, sources, secret=False)
    if issue is not None:
        issues.append(issue)
        return fallback
    if not isinstance(value, str):
        issues.append(doc.issue(path, "expected a database URL such as sqlite:///crmsync.db or postgresql://host/db"))
        return fallback
    try:
        url = make_url(value)
    except ArgumentError:
        issues.append(doc.issue(path, "expected a database URL such as sqlite:///crmsync.db or postgresql://host/db"))
        return fallback
    if url.password is not None and not isinstance(written, Mapping):
        issues.append(
            doc.issue(path, "a URL with a password cannot be written in the file; use `url: {env: VARIABLE}`")
        )
        return fallback
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database).expanduser()
        if not database.is_absolute():
            # Next to the config file, not wherever the command happens to run.
            url = url.set(database=str(sources.base_dir / database))
    return url.render_as_string(hide_password=False)
