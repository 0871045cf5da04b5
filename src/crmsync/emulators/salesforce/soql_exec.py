"""Runs a parsed SOQL query against the org: field resolution, filters, ordering, projection."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crmsync.emulators.core.ids import is_salesforce_id, to_id18
from crmsync.emulators.core.store import StoredRecord
from crmsync.emulators.salesforce.errors import SfError
from crmsync.emulators.salesforce.formats import format_dt, normalize_datetime, parse_datetime
from crmsync.emulators.salesforce.org import Org
from crmsync.emulators.salesforce.render import Getter, getter, render_row, row_plan
from crmsync.emulators.salesforce.schema import NUMBER_TYPES, STRING_TYPES, FieldDef, ObjectDef
from crmsync.emulators.salesforce.soql_parse import Comparison, Condition, Logical, Query, Value

Predicate = Callable[[StoredRecord], bool]
_CI_TYPES = STRING_TYPES - {"id", "reference"}


def invalid_field(obj: ObjectDef, name: str) -> SfError:
    return SfError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a custom field, be sure "
        "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
        "the appropriate names.",
    )


@dataclass(slots=True)
class Resolved:
    """A field path resolved to its final field definition and a getter over the root record."""

    fdef: FieldDef
    get: Getter
    names: tuple[str, ...]  # canonical names along the path (relationship names, then the field)


class Compiler:
    """Compiles one query for one object; nothing here runs per record except the closures it returns."""

    def __init__(self, org: Org, obj: ObjectDef, today: date) -> None:
        self.org = org
        self.obj = obj
        self.today = today

    # ---- paths ----------------------------------------------------------------------------------
    def resolve(self, path: tuple[str, ...]) -> Resolved:
        obj = self.obj
        if len(path) > 1 and path[0].lower() == obj.name.lower():
            path = path[1:]  # `Contact.Email` in a query FROM Contact
        return self._resolve(obj, path)

    def _resolve(self, obj: ObjectDef, path: tuple[str, ...]) -> Resolved:
        if len(path) == 1:
            fdef = obj.field(path[0])
            if fdef is None:
                raise invalid_field(obj, path[0])
            return Resolved(fdef, getter(obj, fdef), (fdef.name,))
        rel = obj.relationships.get(path[0].lower())
        if rel is None:
            raise invalid_field(obj, path[0])
        targets = [self.org.objects[t] for t in rel.reference_to if t in self.org.objects]
        inner: dict[str, Resolved] = {}
        for target in targets:
            try:
                inner[target.key_prefix] = self._resolve(target, path[1:])
            except SfError:
                continue
        if not inner:
            raise invalid_field(targets[0] if targets else obj, path[1])
        first = next(iter(inner.values()))
        ref_name = rel.name
        colls = {prefix: self.org.coll(self.org.by_prefix[prefix]) for prefix in inner}

        def get(record: StoredRecord) -> Any:
            parent_id = record.fields.get(ref_name) if ref_name not in ("CreatedById", "LastModifiedById") else (
                record.created_by if ref_name == "CreatedById" else record.modified_by
            )  # fmt: skip
            if not parent_id:
                return None
            prefix = parent_id[:3]
            resolved = inner.get(prefix)
            if resolved is None:
                return None
            parent = colls[prefix].get(parent_id, include_deleted=True)
            return None if parent is None else resolved.get(parent)

        return Resolved(first.fdef, get, (rel.relationship_name or rel.name, *first.names))

    def parent_getter(
        self, obj: ObjectDef, rel_name: str
    ) -> tuple[FieldDef, Callable[[StoredRecord], StoredRecord | None]]:
        rel = obj.relationships[rel_name.lower()]
        org = self.org
        name = rel.name

        def get(record: StoredRecord) -> StoredRecord | None:
            if name == "CreatedById":
                parent_id: str | None = record.created_by
            elif name == "LastModifiedById":
                parent_id = record.modified_by
            elif name == "MasterRecordId":
                parent_id = record.merged_into
            else:
                parent_id = record.fields.get(name)
            if not parent_id:
                return None
            found = org.record_any(parent_id)
            return None if found is None else found[1]

        return rel, get

    # ---- projection -----------------------------------------------------------------------------
    def projection(self, paths: list[tuple[str, ...]], version: str) -> Callable[[StoredRecord], dict[str, Any]]:
        tree: dict[str, Any] = {}
        for path in paths:
            if len(path) > 1 and path[0].lower() == self.obj.name.lower():
                path = path[1:]
            self._add(self.obj, tree, path)
        return self._render_fn(self.obj, tree, version)

    def _add(self, obj: ObjectDef, tree: dict[str, Any], path: tuple[str, ...]) -> None:
        if len(path) == 1:
            fdef = obj.field(path[0])
            if fdef is None:
                raise invalid_field(obj, path[0])
            tree.setdefault(fdef.name, ("field", getter(obj, fdef)))
            return
        rel = obj.relationships.get(path[0].lower())
        if rel is None:
            raise invalid_field(obj, path[0])
        key = rel.relationship_name or rel.name
        node = tree.get(key)
        if node is None:
            node = tree[key] = ("rel", rel, {})
        subtrees: dict[str, dict[str, Any]] = node[2]
        added = False
        for target_name in rel.reference_to:
            target = self.org.objects.get(target_name)
            if target is None:
                continue
            sub = subtrees.setdefault(target.name, {})
            try:
                self._add(target, sub, path[1:])
                added = True
            except SfError:
                if not rel.polymorphic:
                    raise
        if not added:
            raise invalid_field(obj, ".".join(path))

    def _render_fn(
        self, obj: ObjectDef, tree: dict[str, Any], version: str
    ) -> Callable[[StoredRecord], dict[str, Any]]:
        plan: list[tuple[str, Callable[[StoredRecord], Any]]] = []
        for key, node in tree.items():
            if node[0] == "field":
                plan.append((key, node[1]))
            else:
                _, get_parent = self.parent_getter(obj, node[1].relationship_name)
                renderers = {
                    self.org.objects[name].key_prefix: self._render_fn(self.org.objects[name], sub, version)
                    for name, sub in node[2].items()
                }
                plan.append((key, _nested(get_parent, renderers)))
        url_prefix = f"/services/data/{version}/sobjects/{obj.name}/"
        type_name = obj.name

        # Plain stored fields are read in one pass (no call per field): this runs for every row of every page.
        steps = row_plan(plan)

        def render(record: StoredRecord) -> dict[str, Any]:
            return render_row(steps, {"attributes": {"type": type_name, "url": url_prefix + record.id}}, record)

        return render

    # ---- filters --------------------------------------------------------------------------------
    def predicate(self, cond: Condition) -> Predicate:
        if isinstance(cond, Logical):
            parts = [self.predicate(p) for p in cond.parts]
            if cond.op == "not":
                inner = parts[0]
                return lambda r: not inner(r)
            if cond.op == "and":
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        return self.comparison(cond)

    def comparison(self, cmp: Comparison) -> Predicate:
        resolved = self.resolve(cmp.path)
        fdef, get = resolved.fdef, resolved.get
        op = cmp.op
        if op in {"in", "notin", "includes", "excludes"}:
            assert isinstance(cmp.value, tuple)
            values = [self.literal(fdef, v, op) for v in cmp.value]
            if op in {"includes", "excludes"}:
                wanted = [frozenset(str(v).lower().split(";")) for v in values if v is not None]

                def has(r: StoredRecord) -> bool:
                    raw = get(r)
                    chosen = frozenset(raw.lower().split(";")) if raw else frozenset()
                    return any(w <= chosen for w in wanted)

                return has if op == "includes" else (lambda r: not has(r))
            members = {v for v in values if not isinstance(v, tuple)}
            ci = fdef.type in _CI_TYPES

            def contains(r: StoredRecord) -> bool:
                raw = get(r)
                if ci and isinstance(raw, str):
                    raw = raw.lower()
                return raw in members

            return contains if op == "in" else (lambda r: not contains(r))
        assert isinstance(cmp.value, Value)
        literal = self.literal(fdef, cmp.value, op)
        if op == "like":
            pattern = _like_regex(str(cmp.value.value))
            return lambda r: isinstance(v := get(r), str) and pattern.match(v) is not None
        ci = fdef.type in _CI_TYPES
        if isinstance(literal, tuple):  # a date literal: a half-open range
            low, high = literal
            ranged: Callable[[Any], bool] = {
                "=": lambda v: low <= v < high,
                "!=": lambda v: not low <= v < high,
                "<": lambda v: v < low,
                "<=": lambda v: v < high,
                ">": lambda v: v >= high,
                ">=": lambda v: v >= low,
            }[op]
            if op == "!=":
                return lambda r: (v := get(r)) is None or ranged(v)
            return lambda r: (v := get(r)) is not None and ranged(v)
        if literal is None:
            if op not in {"=", "!="}:
                raise SfError(400, "MALFORMED_QUERY", f"invalid operator on null for field {fdef.name}")
            return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)

        def value_of(r: StoredRecord) -> Any:
            raw = get(r)
            return raw.lower() if ci and isinstance(raw, str) else raw

        if op == "=":
            return lambda r: value_of(r) == literal
        if op == "!=":
            return lambda r: value_of(r) != literal
        compare: Callable[[Any], bool] = {
            "<": lambda v: v < literal,
            "<=": lambda v: v <= literal,
            ">": lambda v: v > literal,
            ">=": lambda v: v >= literal,
        }[op]
        return lambda r: (v := value_of(r)) is not None and compare(v)

    def literal(self, fdef: FieldDef, value: Value, op: str) -> Any:
        """The literal in the stored form of the field's type, or INVALID_FIELD as Salesforce reports it."""
        ftype = fdef.type
        kind = value.kind
        if kind == "null":
            return None
        if ftype in {"id", "reference"} and kind == "string":
            text = str(value.value)
            return to_id18(text) if is_salesforce_id(text) else text
        if ftype in STRING_TYPES and kind == "string":
            return str(value.value).lower() if ftype in _CI_TYPES else value.value
        if ftype in NUMBER_TYPES and kind == "number":
            return value.value
        if ftype == "boolean" and kind == "bool":
            return value.value
        if ftype == "date" and kind == "date":
            return value.value
        if ftype == "datetime" and kind == "datetime":
            return normalize_datetime(str(value.value))
        if ftype in {"date", "datetime"} and kind == "dateliteral":
            return self.date_range(value.value, ftype)
        expected = {"int": "int", "double": "double", "currency": "double", "percent": "double"}.get(ftype, ftype)
        if ftype in STRING_TYPES:
            expected = "string"
        quoted = "should be enclosed in quotes" if expected in {"string", "id", "reference"} else (
            "should not be enclosed in quotes"
        )  # fmt: skip
        raise SfError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{fdef.name}' must be of type {expected} and {quoted}",
        )

    def date_range(self, spec: tuple[str, int], ftype: str) -> tuple[str, str]:
        try:
            return self._date_range(spec, ftype)
        except (OverflowError, ValueError):  # LAST_N_DAYS:99999999 reaches past year 1
            raise SfError(400, "MALFORMED_QUERY", f"{spec[0]}:{spec[1]} is outside the supported date range") from None

    def _date_range(self, spec: tuple[str, int], ftype: str) -> tuple[str, str]:
        name, n = spec
        today = self.today
        one = timedelta(days=1)
        if name == "TODAY":
            low, high = today, today + one
        elif name == "YESTERDAY":
            low, high = today - one, today
        elif name == "TOMORROW":
            low, high = today + one, today + 2 * one
        elif name in {"LAST_N_DAYS", "LAST_90_DAYS"}:
            n = 90 if name == "LAST_90_DAYS" else n
            low, high = today - n * one, today + one
        elif name in {"NEXT_N_DAYS", "NEXT_90_DAYS"}:
            n = 90 if name == "NEXT_90_DAYS" else n
            low, high = today + one, today + (n + 1) * one
        elif name == "N_DAYS_AGO":
            low, high = today - n * one, today - (n - 1) * one
        elif name.endswith("_WEEK"):
            start = today - timedelta(days=(today.weekday() + 1) % 7)
            shift = {"LAST_WEEK": -7, "THIS_WEEK": 0, "NEXT_WEEK": 7}[name]
            low = start + timedelta(days=shift)
            high = low + 7 * one
        elif name.endswith("_MONTH"):
            month_index = today.year * 12 + today.month - 1 + {"LAST_MONTH": -1, "THIS_MONTH": 0, "NEXT_MONTH": 1}[name]
            low = date(month_index // 12, month_index % 12 + 1, 1)
            high = date((month_index + 1) // 12, (month_index + 1) % 12 + 1, 1)
        else:
            year = today.year + {"LAST_YEAR": -1, "THIS_YEAR": 0, "NEXT_YEAR": 1}[name]
            low, high = date(year, 1, 1), date(year + 1, 1, 1)
        if ftype == "date":
            return low.isoformat(), high.isoformat()
        return (
            format_dt(datetime(low.year, low.month, low.day, tzinfo=UTC)),
            format_dt(datetime(high.year, high.month, high.day, tzinfo=UTC)),
        )

    # ---- ordering -------------------------------------------------------------------------------
    def sort(self, records: list[StoredRecord], query: Query) -> None:
        for item in reversed(query.order):
            resolved = self.resolve(item.path)
            get = resolved.get
            ci = resolved.fdef.type in _CI_TYPES
            null_rank = 0 if item.nulls_first != item.desc else 2

            def key(r: StoredRecord, get: Getter = get, ci: bool = ci, null_rank: int = null_rank) -> tuple[Any, ...]:
                v = get(r)
                if v is None:
                    return (null_rank,)
                return (1, v.lower() if ci and isinstance(v, str) else v)

            records.sort(key=key, reverse=item.desc)


def _nested(
    get_parent: Callable[[StoredRecord], StoredRecord | None],
    renderers: dict[str, Callable[[StoredRecord], dict[str, Any]]],
) -> Callable[[StoredRecord], Any]:
    def get(record: StoredRecord) -> Any:
        parent = get_parent(record)
        if parent is None:
            return None
        render = renderers.get(parent.id[:3])
        return None if render is None else render(parent)

    return get


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)


def modstamp_floor(cond: Condition | None) -> tuple[int, bool] | None:
    """A top-level `SystemModstamp >(=) literal` conjunct, so the change log answers instead of a scan."""
    if cond is None:
        return None
    parts: Iterable[Condition] = cond.parts if isinstance(cond, Logical) and cond.op == "and" else (cond,)
    for part in parts:
        if (
            isinstance(part, Comparison)
            and len(part.path) == 1
            and part.path[0].lower() == "systemmodstamp"
            and part.op in {">", ">="}
            and isinstance(part.value, Value)
            and part.value.kind == "datetime"
        ):
            moment = parse_datetime(str(part.value.value))
            if moment is not None:
                return int(moment.timestamp() * 1000), part.op == ">="
    return None


def id_filter(cond: Condition | None) -> list[str] | None:
    """A top-level `Id = x` / `Id IN (...)` conjunct: read those records directly."""
    if cond is None:
        return None
    parts: Iterable[Condition] = cond.parts if isinstance(cond, Logical) and cond.op == "and" else (cond,)
    for part in parts:
        if isinstance(part, Comparison) and len(part.path) == 1 and part.path[0].lower() == "id":
            values = part.value if isinstance(part.value, tuple) else (part.value,)
            if part.op in {"=", "in"} and all(v.kind == "string" for v in values):
                return [to_id18(str(v.value)) for v in values if is_salesforce_id(str(v.value))]
    return None
