"""Load crmsync.yaml into a SyncConfig, listing every mistake at once with its file, line, column and key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crmsync.config.connections import CONNECTION_NAME, build_connections
from crmsync.config.objects import build_objects
from crmsync.config.problems import ConfigFileError, pydantic_issues
from crmsync.config.schema import (
    TOP_LEVEL_KEYS,
    AlertsSection,
    DashboardSection,
    DashboardToken,
    DashboardUser,
    ServiceSection,
    StateSection,
)
from crmsync.config.secrets import Sources, resolve
from crmsync.config.values import VENDORS, SyncConfig, Vendor, redis_password
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
    redis_url = _redis_url(doc, data.get("state"), sources, issues)
    service = _service(doc, data.get("service"), sources, issues)
    mapping_issues = len(issues)
    mappings = _mappings(doc, issues)
    unchecked = _mapped_names(data.get("mappings")) if len(issues) > mapping_issues else None
    connections = build_connections(doc, data.get("connections"), sources, issues)
    declared = _declared(data.get("connections"))
    objects = build_objects(doc, data.get("objects"), declared, connections, mappings, issues, unchecked)
    if issues:
        # File order reads best: the user fixes them top to bottom.
        raise ConfigFileError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    return SyncConfig(doc.file, state_url, connections, objects, mappings, service, redis_url=redis_url)


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


def _mapped_names(raw: Any) -> dict[str, frozenset[str]]:
    """Per kind, the field names a `mappings:` section declares (`contact.tier:` or `contact: {fields: ...}`)."""
    names: dict[str, set[str]] = {}
    for key, value in raw.items() if isinstance(raw, Mapping) else ():
        if not isinstance(key, str):
            continue
        if "." in key:
            kind, _, name = key.partition(".")
            names.setdefault(kind, set()).add(name)
        elif isinstance(value, Mapping) and isinstance(value.get("fields"), Mapping):
            names.setdefault(key, set()).update(str(name) for name in value["fields"])
    return {kind: frozenset(found) for kind, found in names.items()}


def _service(doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]) -> ServiceSection:
    raw, reported = _alert_urls(doc, raw, sources, issues)
    raw, reported_dashboard = _dashboard_secrets(doc, raw, sources, issues)
    reported += reported_dashboard
    try:
        return ServiceSection.model_validate({} if raw is None else raw)
    except ValidationError as exc:
        # Alert URLs already reported (unreadable `{env:}`/`{file:}`, not a list) would be reported twice.
        errors = [err for err in exc.errors() if not any(err["loc"][: len(prefix)] == prefix for prefix in reported)]
        secret = ("urls", "token", "password_hash", "session_secret")
        issues.extend(pydantic_issues(doc, ("service",), errors, _service_keys, secret=secret))
        return ServiceSection()


def _service_keys(loc: tuple[str, ...]) -> tuple[str, ...]:
    if not loc:
        return tuple(ServiceSection.model_fields)
    if loc == ("alerts",):
        return tuple(AlertsSection.model_fields)
    if loc == ("dashboard",):
        return tuple(DashboardSection.model_fields)
    if len(loc) == 3 and loc[0] == "dashboard":
        entry: type[BaseModel] = DashboardUser if loc[1] == "users" else DashboardToken
        return tuple(entry.model_fields)
    return ()


_DASHBOARD_SECRETS = {"tokens": "token", "users": "password_hash"}


def _dashboard_secrets(
    doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]
) -> tuple[Any, list[tuple[str | int, ...]]]:
    """`service` with the dashboard's tokens, password hashes and session key read from `{env:}` / `{file:}`.

    They are secrets: written inline in the file they are refused (with the file, line and key).
    """
    dashboard = raw.get("dashboard") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or not isinstance(dashboard, Mapping):
        return raw, []
    base = ("service", "dashboard")
    resolved: dict[str, Any] = dict(dashboard)
    reported: list[tuple[str | int, ...]] = []
    for section, key in _DASHBOARD_SECRETS.items():
        entries = dashboard.get(section)
        if not isinstance(entries, list):
            continue  # the model reports what else was written there
        values: list[Any] = []
        for index, entry in enumerate(entries):
            if isinstance(entry, Mapping) and key in entry:
                value, issue = resolve(entry[key], (*base, section, str(index), key), doc, sources, secret=True)
                if issue is not None:
                    issues.append(issue)
                    reported.append(("dashboard", section, index, key))
                    value = entry[key]
                entry = {**entry, key: value}
            values.append(entry)
        resolved[section] = values
    if dashboard.get("session_secret") is not None:
        value, issue = resolve(dashboard["session_secret"], (*base, "session_secret"), doc, sources, secret=True)
        if issue is not None:
            issues.append(issue)
            reported.append(("dashboard", "session_secret"))
            value = dashboard["session_secret"]
        resolved["session_secret"] = value
    return {**raw, "dashboard": resolved}, reported


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
        issues.extend(
            pydantic_issues(doc, ("state",), exc.errors(), lambda loc: ("url", "redis_url") if not loc else ())
        )
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
    backend = url.get_backend_name()
    if backend not in STATE_BACKENDS:
        issues.append(doc.issue(path, f"unsupported state database {url.drivername!r}: {STATE_URL_EXAMPLE}"))
        return fallback
    if backend == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
            # Each pooled connection would see its own empty database: only a file keeps the state.
            issues.append(doc.issue(path, f"in-memory SQLite keeps no state; name a file: {STATE_URL_EXAMPLE}"))
            return fallback
        database = Path(url.database).expanduser()
        if not database.is_absolute():
            # Next to the config file, not wherever the command happens to run.
            database = sources.base_dir / database
            url = url.set(database=str(database))
        # Not written: next to the config file, whose folder exists whenever the file was read.
        written_url = isinstance(raw, Mapping) and raw.get("url") is not None
        problem = sqlite_file_problem(database) if written_url else None
        if problem is not None:
            issues.append(doc.issue(path, problem))
            return fallback
    return url.render_as_string(hide_password=False)


STATE_BACKENDS = ("sqlite", "postgresql")
STATE_URL_EXAMPLE = "use sqlite:///path/crmsync.db or postgresql://host/db"


def sqlite_file_problem(database: Path) -> str | None:
    """Why SQLite could not open (or create) its state file at `database`; None when it can.

    Found here, with the file and line of `state.url`, rather than as the driver's "unable to open database file".
    """
    if database.is_dir():
        return f"the SQLite state database {database} is a directory; name a file in it"
    folder = database.parent
    if not folder.exists():
        return f"the folder {folder} of the SQLite state database {database.name} does not exist: create it first"
    if not folder.is_dir():
        return f"{folder} is not a folder, so the SQLite state database {database.name} cannot be created in it"
    if not database.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"the SQLite state database {database.name} cannot be created in {folder}: no write permission"
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        return f"the SQLite state database {database} cannot be read and written by this user"
    return None


REDIS_URL_EXAMPLE = (
    "expected a Redis URL such as redis://127.0.0.1:6379/0, rediss://host:6380/0 or unix:///path/redis.sock"
)


def _redis_url(doc: YamlDocument, raw: Any, sources: Sources, issues: list[ConfigIssue]) -> SecretStr | None:
    """`state.redis_url`: where workers share rate limits (None: not set). Messages never repeat the URL."""
    if not isinstance(raw, Mapping) or raw.get("redis_url") is None:
        return None
    written = raw["redis_url"]
    path = ("state", "redis_url")
    value, issue = resolve(written, path, doc, sources, secret=False)
    if issue is not None:
        issues.append(issue)
        return None
    problem = _redis_url_problem(value)
    if problem is not None:
        issues.append(doc.issue(path, problem))
        return None
    if redis_password(value) is not None and not isinstance(written, Mapping):
        issues.append(
            doc.issue(path, "a URL with a password cannot be written in the file; use `redis_url: {env: VARIABLE}`")
        )
        return None
    return SecretStr(value)


def _redis_url_problem(value: Any) -> str | None:
    """What is wrong with a Redis URL (None: nothing), in words that do not repeat it (it may hold a password)."""
    if not isinstance(value, str):
        return REDIS_URL_EXAMPLE
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError:
        return f"{REDIS_URL_EXAMPLE} (the host or port cannot be read)"
    if parts.scheme not in ("redis", "rediss", "unix"):
        scheme = f"the scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return f"{REDIS_URL_EXAMPLE}; {scheme} is not redis://, rediss:// or unix://"
    if parts.scheme == "unix":
        return None if parts.path else f"{REDIS_URL_EXAMPLE}; a unix:// URL needs the socket's path"
    if not parts.hostname:
        return f"{REDIS_URL_EXAMPLE}; the host is missing"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return f"{REDIS_URL_EXAMPLE}; the path must be a database number such as /0"
    return None
