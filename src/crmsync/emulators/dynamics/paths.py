"""Parsing of OData resource paths: entity sets, `(key)` segments, alternate keys, entity references."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.schema import Table
from crmsync.emulators.dynamics.state import parse_guid

API_PREFIX = "/api/data/v9.2/"


@dataclass(frozen=True, slots=True)
class Key:
    """A record address: a primary-key GUID or alternate-key values."""

    record_id: str | None = None
    alternate: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.record_id is not None:
            return self.record_id
        return ",".join(f"{k}:{v}" for k, v in (self.alternate or {}).items())


def split_segments(path: str) -> list[str]:
    """Split on '/' outside quotes and parentheses (key values may contain slashes)."""
    if "/" not in path:
        return [path] if path else []
    if "'" not in path and "(" not in path:
        return [s for s in path.split("/") if s != ""]  # nothing to protect: split in C
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    depth = 0
    for char in path:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "/" and not quoted and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return [s for s in segments if s != ""]


def split_key(segment: str) -> tuple[str, str | None]:
    """'accounts(…)' -> ('accounts', '…'); 'accounts' -> ('accounts', None)."""
    open_at = segment.find("(")
    if open_at < 0:
        return segment, None
    if not segment.endswith(")"):
        errors.query_error(f"Bad Request - Error in query syntax: '{segment}'.")
    return segment[:open_at], segment[open_at + 1 : -1]


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    guid = parse_guid(text)
    if guid is not None:
        return guid
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        errors.query_error(f"Bad Request - Error in query syntax: the key value '{text}' is not a valid literal.")


def _split_pairs(text: str) -> list[str]:
    if "," not in text:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_key(table: Table, text: str) -> Key:
    guid = parse_guid(text)
    if guid is not None:
        return Key(record_id=guid)
    if "=" not in text:
        errors.bad_request(
            f"Bad Request - Error in query syntax: the key '{text}' of entity '{table.logical_name}' is not a GUID.",
            errors.QUERY,
        )
    values: dict[str, Any] = {}
    for pair in _split_pairs(text):
        name, _, raw = pair.partition("=")
        name = name.strip()
        if name == table.primary_id:
            guid = parse_guid(raw)
            if guid is None:
                errors.query_error(f"The key value '{raw}' is not a valid GUID.")
            return Key(record_id=guid)
        if name not in table.columns:
            errors.no_property(table.logical_name, name)
        values[name] = _literal(raw)
    return Key(alternate=values)


def reference_path(value: str) -> str:
    """'https://host/api/data/v9.2/accounts(…)', '/accounts(…)' or 'accounts(…)' -> 'accounts(…)'."""
    at = value.find(API_PREFIX)
    if at >= 0:
        return value[at + len(API_PREFIX) :]
    return value.lstrip("/")
