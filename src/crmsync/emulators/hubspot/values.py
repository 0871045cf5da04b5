"""Turns written property values into HubSpot's stored strings, or the per-property error HubSpot reports."""

from __future__ import annotations

import math
from typing import Any

from crmsync.emulators.hubspot.errors import property_error
from crmsync.emulators.hubspot.schema import PropertyDef
from crmsync.emulators.hubspot.timefmt import clock_text, date_value, is_midnight, iso_value, parse_ms, representable

PropertyProblem = dict[str, Any]
_EMAIL_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_MAX_STRING = 65_536


def as_text(raw: Any) -> str | None:
    """JSON scalars as HubSpot reads them (`10000` → "10000", `true` → "true"); None for objects/arrays."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return None


def valid_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or " " in value or "@" in local:
        return False
    labels = domain.lower().split(".")
    if len(labels) < 2 or any(not label for label in labels):
        return False
    if not all(set(label) <= _EMAIL_DOMAIN_CHARS for label in labels):
        return False
    tld = labels[-1]
    return len(tld) >= 2 and tld.isalpha()


def coerce(prop: PropertyDef, raw: Any) -> tuple[str, PropertyProblem | None]:
    """(stored value, problem). An empty string means "clear the value", as in HubSpot."""
    name = prop.name
    if raw is None:
        return "", None
    text = as_text(raw)
    if text is None:
        return "", property_error(name, "INVALID_INPUT", f"{raw!r} is not a valid value for {name}")
    if text == "":
        return "", None
    kind = prop.type
    if kind == "string" or kind == "phone_number":
        if len(text) > _MAX_STRING:
            return "", property_error(name, "INVALID_INPUT", f"{name} is longer than {_MAX_STRING} characters")
        if name == "email" and not valid_email(text):
            return "", property_error(name, "INVALID_EMAIL", f"Email address {text} is invalid")
        return text, None
    if kind == "number":
        try:
            # Python's float() also reads "1_000"; HubSpot's number parser does not.
            number = math.nan if "_" in text else float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            return "", property_error(name, "INVALID_DECIMAL", f"{text} was not a valid number.")
        return text.strip(), None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            return "", property_error(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return lowered, None
    if kind == "enumeration":
        return _enumeration(prop, text)
    if kind == "datetime":
        ms = parse_ms(text)
        if ms is None or not representable(ms):
            return "", property_error(name, "INVALID_LONG", f"{text} was not a valid long.")
        return iso_value(ms), None
    if kind == "date":
        ms = parse_ms(text)
        if ms is None or not representable(ms):
            return "", property_error(name, "INVALID_DATE", f"{text} is not a valid date.")
        if not is_midnight(ms):
            return "", property_error(name, "INVALID_DATE", f"{text} is at {clock_text(ms)} UTC, not midnight!")
        return date_value(ms), None
    return text, None


def _enumeration(prop: PropertyDef, text: str) -> tuple[str, PropertyProblem | None]:
    if prop.external_options or not prop.options:
        return text, None
    allowed = prop.option_set()
    parts = text.split(";") if prop.field_type == "checkbox" else [text]
    for part in parts:
        if allowed and part not in allowed:
            shown = ", ".join(prop.options[:20]) + (", ..." if len(prop.options) > 20 else "")
            return "", property_error(
                prop.name, "INVALID_OPTION", f"{part} was not one of the allowed options: [{shown}]"
            )
    return text, None
