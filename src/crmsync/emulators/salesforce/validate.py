"""Checks and coerces write bodies field by field, with Salesforce's error codes for each kind of bad value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crmsync.emulators.core.ids import is_salesforce_id, to_id18
from crmsync.emulators.salesforce.errors import SfError, json_parser_error, malformed_id
from crmsync.emulators.salesforce.formats import normalize_datetime, parse_date, parse_datetime
from crmsync.emulators.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef

_EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_TEXT = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"})

# (field, value) -> stored id for a reference, or raises SfError
RefResolver = Callable[[FieldDef, str], str]
# (relationship field, {"ExtField": value}) -> id
ExtRefResolver = Callable[[FieldDef, dict[str, Any]], str]


def _deserialize_error(value: Any, fdef: FieldDef) -> SfError:
    kind = {"int": "int", "double": "double", "currency": "double", "percent": "double"}.get(fdef.type, fdef.type)
    token = "VALUE_STRING" if isinstance(value, str) else ("START_OBJECT" if isinstance(value, dict) else
                                                          "START_ARRAY" if isinstance(value, list) else
                                                          "VALUE_TRUE" if value is True else "VALUE_FALSE"
                                                          if value is False else "VALUE_NUMBER")  # fmt: skip
    return json_parser_error(
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may be missing a required field"
    )


def coerce(fdef: FieldDef, value: Any, resolve_ref: RefResolver) -> Any:
    """The stored form of one JSON value for a field, or SfError with Salesforce's code."""
    if value is None:
        return None
    ftype = fdef.type
    if ftype in _TEXT:
        if isinstance(value, (bool, dict | list)):
            raise _deserialize_error(value, fdef)
        text = value if isinstance(value, str) else str(value)
        if text == "":
            return None
        if fdef.length and len(text) > fdef.length:
            raise SfError(
                400,
                "STRING_TOO_LONG",
                f"{fdef.label}: data value too large: {text[:80]} (max length={fdef.length})",
                [fdef.name],
            )
        if ftype == "email" and not _EMAIL.match(text):
            raise SfError(400, "INVALID_EMAIL_ADDRESS", f"{fdef.label}: invalid email address: {text}", [fdef.name])
        if fdef.restricted and fdef.picklist:
            parts = text.split(";") if ftype == "multipicklist" else [text]
            for part in parts:
                if part not in fdef.picklist:
                    raise SfError(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{fdef.label}: bad value for restricted picklist field: {part}",
                        [fdef.name],
                    )
        return text
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _deserialize_error(value, fdef)
    if ftype in NUMBER_TYPES:
        number: float | int
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _deserialize_error(value, fdef)
        if isinstance(value, str):
            try:
                number = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise _deserialize_error(value, fdef) from None
        else:
            number = value
        if ftype == "int":
            if isinstance(number, float) and not number.is_integer():
                raise _deserialize_error(value, fdef)
            number = int(number)
            if abs(number) > 2_147_483_647:
                raise SfError(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{fdef.label}: value outside of valid range on numeric field: {number}",
                    [fdef.name],
                )
        elif number != number or number in (float("inf"), float("-inf")) or abs(number) >= 1e18:
            raise SfError(
                400,
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{fdef.label}: value outside of valid range on numeric field: {value}",
                [fdef.name],
            )
        return number
    if ftype == "date":
        if not isinstance(value, str):
            raise _deserialize_error(value, fdef)
        day = parse_date(value[:10]) if len(value) >= 10 else None
        if day is None or (len(value) > 10 and parse_datetime(value) is None):
            raise _deserialize_error(value, fdef)
        return day.isoformat()
    if ftype == "datetime":
        stamp = normalize_datetime(value) if isinstance(value, str) else None
        if stamp is None:
            raise _deserialize_error(value, fdef)
        return stamp
    if ftype == "reference":
        if not isinstance(value, str):
            raise _deserialize_error(value, fdef)
        if not is_salesforce_id(value):
            raise malformed_id(fdef.label, value, fdef.name)
        return resolve_ref(fdef, to_id18(value))
    raise _deserialize_error(value, fdef)


def prepare(
    obj: ObjectDef,
    body: Any,
    *,
    creating: bool,
    resolve_ref: RefResolver,
    resolve_ext_ref: ExtRefResolver,
    ignore: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate a create/update body into stored changes (required fields are checked by the caller)."""
    if not isinstance(body, dict):
        raise json_parser_error(f"Cannot deserialize instance of {obj.name} from {type(body).__name__.upper()} value")
    changes: dict[str, Any] = {}
    readonly: list[str] = []
    for key, value in body.items():
        if key == "attributes" or key.lower() in ignore:
            continue
        fdef = obj.field(key)
        if fdef is None:
            rel = obj.relationships.get(key.lower())
            if rel is not None and isinstance(value, dict):
                if rel.polymorphic and next(iter(value), None) != "attributes":
                    raise json_parser_error(
                        "Nested object for polymorphic foreign key must have an attributes field before any "
                        "other fields."
                    )
                changes[rel.name] = resolve_ext_ref(rel, value)
                continue
            raise SfError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
        if not (fdef.createable if creating else fdef.updateable):
            readonly.append(fdef.name)
            continue
        changes[fdef.name] = coerce(fdef, value, resolve_ref)
    if readonly:
        raise SfError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            readonly,
        )
    return changes


def missing_required(obj: ObjectDef, values: dict[str, Any]) -> SfError | None:
    missing = [name for name in obj.required_names if values.get(name) is None]
    if not missing:
        return None
    return SfError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
