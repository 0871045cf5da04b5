"""The CRM search language: filter groups, operators, one sort and free-text query, compiled to predicates."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.schema import ObjectType, PropertyDef
from crmsync.emulators.hubspot.timefmt import parse_ms

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_QUERY_LENGTH = 3000
OPERATORS = frozenset(
    (
        *("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN"),
        *("HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"),
    )
)
_LOWER_BOUND_OPS = frozenset(("GT", "GTE", "EQ", "BETWEEN"))
Predicate = Callable[[StoredRecord], bool]
Key = Callable[[StoredRecord], Any]


@dataclass
class CompiledSearch:
    groups: list[list[Predicate]]
    query: str | None
    sort_key: Key
    descending: bool
    since_ms: int | None  # every group bounds the last-modified stamp from below: use the change log


def _getter(ot: ObjectType, prop: PropertyDef) -> tuple[Key, str]:
    """(record → comparable value or None, kind) where kind is "num" or "str"."""
    name = prop.name
    if name == "hs_object_id":
        return (lambda r: int(r.id)), "num"
    if name == ot.created_prop:
        return (lambda r: r.created_ms), "num"
    if name == ot.modified_prop:
        return (lambda r: r.modified_ms), "num"
    if prop.type == "number":

        def number(r: StoredRecord) -> float | None:
            raw = r.fields.get(name)
            try:
                return float(raw) if raw else None
            except ValueError:
                return None

        return number, "num"
    if prop.type in ("datetime", "date"):
        return (lambda r: parse_ms(r.fields[name]) if r.fields.get(name) else None), "num"

    def text(r: StoredRecord) -> str | None:
        raw = r.fields.get(name)
        return raw.lower() if raw else None

    return text, "str"


def _operand(kind: str, prop: PropertyDef, raw: Any) -> Any:
    if raw is None or isinstance(raw, dict | list):
        raise errors.validation(f"Invalid filter value for {prop.name}: {raw!r}")
    text = raw if isinstance(raw, str) else ("true" if raw is True else "false" if raw is False else str(raw))
    if kind == "str":
        return text.lower()
    if prop.type in ("datetime", "date") or prop.name.endswith(("createdate", "lastmodifieddate")):
        ms = parse_ms(text)
        if ms is None:
            raise errors.validation(f"Invalid filter value for {prop.name}: {text} is not a date")
        return ms
    try:
        number = math.nan if "_" in text else float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise errors.validation(f"Invalid filter value for {prop.name}: {text} is not a number")
    return number


def _tokens(value: str) -> list[str]:
    return "".join(c if c.isalnum() or c in "@._-" else " " for c in value).split()


def _contains_token(value: str, token: str) -> bool:
    if "*" in token:
        return any(fnmatch.fnmatchcase(t, token) for t in _tokens(value)) or fnmatch.fnmatchcase(value, token)
    return token == value or token in _tokens(value) or token in value.replace("@", " ").replace(".", " ").split()


def _predicate(ot: ObjectType, defs: dict[str, PropertyDef], spec: Any) -> tuple[Predicate, int | None]:
    if not isinstance(spec, dict):
        raise errors.validation("Invalid input JSON: each filter must be an object")
    name, op = spec.get("propertyName"), spec.get("operator")
    if not isinstance(name, str) or name not in defs:
        raise errors.validation(f"There was a problem with the request: property {name!r} does not exist on {ot.label}")
    if op not in OPERATORS:
        raise errors.validation(f"Unknown filter operator {op!r}; allowed: {', '.join(sorted(OPERATORS))}")
    prop = defs[name]
    get, kind = _getter(ot, prop)
    if kind == "str" and op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        # A text value is present exactly when the stored string is non-empty: no need to lower-case it.
        if op == "HAS_PROPERTY":
            return (lambda r: bool(r.fields.get(name))), None
        return (lambda r: not r.fields.get(name)), None
    if op == "HAS_PROPERTY":
        return (lambda r: get(r) not in (None, "")), None
    if op == "NOT_HAS_PROPERTY":
        return (lambda r: get(r) in (None, "")), None
    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise errors.validation(f"Operator {op} needs a non-empty `values` array")
        wanted = frozenset(_operand(kind, prop, v) for v in values)
        if op == "IN":
            return (lambda r: get(r) in wanted), None
        return (lambda r: get(r) not in wanted), None
    value = _operand(kind, prop, spec.get("value"))
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(value).lower()

        def contains(r: StoredRecord) -> bool:
            current = get(r)
            return current is not None and _contains_token(str(current).lower(), token)

        if op == "CONTAINS_TOKEN":
            return contains, None
        return (lambda r: not contains(r)), None
    bound = int(value) if name == ot.modified_prop and op in _LOWER_BOUND_OPS else None
    if op == "EQ":
        return (lambda r: get(r) == value), bound
    if op == "NEQ":
        return (lambda r: get(r) != value), None
    if op == "BETWEEN":
        high = _operand(kind, prop, spec.get("highValue"))
        return (lambda r: (v := get(r)) is not None and value <= v <= high), bound
    compare: dict[str, Callable[[Any], bool]] = {
        "LT": lambda v: v < value,
        "LTE": lambda v: v <= value,
        "GT": lambda v: v > value,
        "GTE": lambda v: v >= value,
    }
    test = compare[op]
    return (lambda r: (v := get(r)) is not None and test(v)), bound


def compile_search(ot: ObjectType, defs: dict[str, PropertyDef], body: dict[str, Any]) -> CompiledSearch:
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise errors.validation("Invalid input JSON: filterGroups must be an array")
    if len(raw_groups) > MAX_GROUPS:
        raise errors.validation(f"Too many filter groups: {len(raw_groups)}. The maximum is {MAX_GROUPS}.")
    groups: list[list[Predicate]] = []
    bounds: list[int | None] = []
    total = 0
    for group in raw_groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise errors.validation("Invalid input JSON: each filter group needs a `filters` array")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise errors.validation(
                f"Too many filters in a group: {len(filters)}. The maximum is {MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        compiled = [_predicate(ot, defs, spec) for spec in filters]
        groups.append([p for p, _ in compiled])
        lows = [b for _, b in compiled if b is not None]
        bounds.append(max(lows) if lows else None)
    if total > MAX_FILTERS:
        raise errors.validation(f"Too many filters: {total}. The maximum is {MAX_FILTERS} across all groups.")
    query = body.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY_LENGTH):
        raise errors.validation(f"query must be a string of at most {MAX_QUERY_LENGTH} characters")
    sort_key, descending = _sort(ot, defs, body.get("sorts"))
    since = min(b for b in bounds if b is not None) if bounds and all(b is not None for b in bounds) else None
    return CompiledSearch(groups, query.strip().lower() if query else None, sort_key, descending, since)


def _sort(ot: ObjectType, defs: dict[str, PropertyDef], sorts: Any) -> tuple[Key, bool]:
    if sorts in (None, []):
        return (lambda r: int(r.id)), False
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise errors.validation("Only one sort is supported")
    spec = sorts[0]
    name: Any
    direction: Any
    if isinstance(spec, str):  # the SDK's string form: "createdate" or "-createdate"
        name, direction = spec.lstrip("-"), "DESCENDING" if spec.startswith("-") else "ASCENDING"
    elif isinstance(spec, dict):
        name, direction = spec.get("propertyName"), spec.get("direction", "ASCENDING")
    else:
        raise errors.validation("Invalid input JSON: a sort must be an object")
    if not isinstance(name, str) or name not in defs:
        raise errors.validation(f"Cannot sort by {name!r}: no such property on {ot.label}")
    if direction not in ("ASCENDING", "DESCENDING"):
        raise errors.validation(f"Invalid sort direction {direction!r}")
    get, _ = _getter(ot, defs[name])
    descending = direction == "DESCENDING"

    def key(r: StoredRecord) -> tuple[bool, Any, int]:
        value = get(r)
        # Records without a value go last in either direction, as HubSpot lists them.
        return (value is None) != descending, value if value is not None else 0, int(r.id)

    return key, descending


def _all_of(group: list[Predicate]) -> Predicate:
    if len(group) == 1:
        return group[0]
    if len(group) == 2:
        first, second = group
        return lambda r: first(r) and second(r)
    return lambda r: all(p(r) for p in group)


def _test(search: CompiledSearch, ot: ObjectType) -> Predicate | None:
    """`matches` as one callable built once per query (None: everything matches), for the per-record loop."""
    tests = [_all_of(group) for group in search.groups]
    groups: Predicate | None = None
    if len(tests) == 1:
        groups = tests[0]
    elif tests:

        def any_group(r: StoredRecord) -> bool:
            return any(test(r) for test in tests)

        groups = any_group
    if not search.query:
        return groups
    q, searchable = search.query, ot.searchable

    def text(r: StoredRecord) -> bool:
        fields = r.fields
        return any(q in (fields.get(name) or "").lower() for name in searchable) or q == r.id

    if groups is None:
        return text
    both = groups
    return lambda r: both(r) and text(r)


def run(search: CompiledSearch, ot: ObjectType, candidates: Iterable[StoredRecord]) -> list[str]:
    """Matching ids in result order (computed once per query; pages slice this list)."""
    test = _test(search, ot)
    if test is None:
        found = [r for r in candidates if r.deleted_ms is None]
    else:
        found = [r for r in candidates if r.deleted_ms is None and test(r)]
    found.sort(key=search.sort_key, reverse=search.descending)
    return [r.id for r in found]
