"""Lossless JSON encoding of canonical values, and the content hash shadows are compared by."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast

import orjson

from crmsync.model.values import CanonicalValue, Fields

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]

# Dates and datetimes are tagged so that a string that looks like a date stays a string.
_DATETIME = "$dt"
_DATE = "$d"

# Most values are plain JSON scalars, the same encoded and decoded: the codec skips them by exact type (a bool
# or str subclass still takes the full path).
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def encode_value(value: CanonicalValue) -> JsonValue:
    if isinstance(value, datetime):  # before date: datetime is a subclass of date
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, tuple):
        return list(value)
    return value


def decode_value(raw: Any) -> CanonicalValue:
    if isinstance(raw, list):
        return tuple(str(item) for item in raw)
    if isinstance(raw, dict):
        if _DATETIME in raw:
            return datetime.fromisoformat(raw[_DATETIME])
        if _DATE in raw:
            return date.fromisoformat(raw[_DATE])
        raise ValueError(f"not an encoded canonical value: {raw!r}")
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    raise ValueError(f"not an encoded canonical value: {raw!r}")


def encode_fields(fields: Fields) -> dict[str, JsonValue]:
    return {
        name: cast(JsonValue, value) if value.__class__ in _PLAIN else encode_value(value)
        for name, value in fields.items()
    }


def decode_fields(raw: Mapping[str, Any] | None) -> dict[str, CanonicalValue]:
    return {
        name: cast(CanonicalValue, value) if value.__class__ in _PLAIN else decode_value(value)
        for name, value in (raw or {}).items()
    }


def content_hash(fields: Fields) -> str:
    """A stable digest of field values: independent of key order, sensitive to every value and type."""
    encoded = encode_fields(fields)
    try:
        body = orjson.dumps(encoded, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: orjson refuses it, the stdlib does not
        body = json.dumps(encoded, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()
