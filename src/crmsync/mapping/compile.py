"""Field-map files → compiled rules, with every mistake collected and located (file, line, key)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from crmsync.mapping.config import ALLOWED_KEYS, VENDORS, FieldEntry, MappingsFile, Vendor, VendorRule
from crmsync.mapping.registry import build_transform
from crmsync.mapping.rules import FieldRule, Mappings, ObjectMap
from crmsync.mapping.valuemap import ValueMap
from crmsync.mapping.yamlsource import ConfigIssue, MappingConfigError, PathKey, YamlDocument
from crmsync.model.values import OBJECT_KINDS, ObjectKind

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RuleKey = tuple[ObjectKind, str, str]  # (kind, vendor, entry key)


@dataclass(slots=True)
class Layer:
    """One file's rules (None removes an inherited rule), object names, and where each was written."""

    rules: dict[RuleKey, FieldRule | None] = field(default_factory=dict)
    objects: dict[tuple[ObjectKind, str], str] = field(default_factory=dict)
    where: dict[RuleKey, tuple[YamlDocument, PathKey]] = field(default_factory=dict)


def compile_document(doc: YamlDocument, root: PathKey = ()) -> Layer:
    """Validate and compile the field maps at `root` of a document; MappingConfigError lists every mistake."""
    data: Any = doc.data
    for part in root:
        data = data.get(part) if isinstance(data, Mapping) else None
    if data is None:
        return Layer()
    if not isinstance(data, Mapping):
        raise MappingConfigError([doc.issue(root, "expected a mapping of object kinds (contact:, company:, ...)")])
    issues: list[ConfigIssue] = []
    nested = _nest_dotted(data, doc, root, issues)
    try:
        parsed = MappingsFile.model_validate(nested)
    except ValidationError as exc:
        issues.extend(_pydantic_issue(doc, root, err) for err in exc.errors())
        raise MappingConfigError(issues) from None
    layer = Layer()
    for kind in OBJECT_KINDS:
        section = getattr(parsed, kind)
        if section is None:
            continue
        for vendor, name in section.object.items():
            layer.objects[(kind, vendor)] = name
        for key, raw in section.fields.items():
            path = (*root, kind, "fields", str(key))
            if not isinstance(key, str) or not _NAME.match(key):
                issues.append(doc.issue(path, "a canonical field name is lower_snake_case (letters, digits, _)"))
                continue
            try:
                entry = None if raw is None else FieldEntry.model_validate(raw)
            except ValidationError as exc:
                issues.extend(_pydantic_issue(doc, root, err, (kind, "fields", key)) for err in exc.errors())
                continue
            _compile_entry(layer, doc, path, kind, key, entry, issues)
    if issues:
        raise MappingConfigError(issues)
    return layer


def _nest_dotted(data: Mapping[str, Any], doc: YamlDocument, root: PathKey, issues: list[ConfigIssue]) -> Any:
    """`contact.favourite_colour: {...}` (the one-line custom field) → `contact: {fields: {favourite_colour: ...}}`."""
    nested: dict[str, Any] = {}
    dotted: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(key, str) and "." in key:
            dotted.append((key, value))
        else:
            nested[key] = dict(value) if isinstance(value, Mapping) else value
    for key, value in dotted:
        kind, _, name = key.partition(".")
        if kind not in OBJECT_KINDS:
            issues.append(doc.issue((*root, key), f"unknown object kind {kind!r}; expected one of {OBJECT_KINDS}"))
            continue
        section = nested.setdefault(kind, {})
        if not isinstance(section, dict):
            continue  # pydantic reports the malformed section itself
        fields = section.setdefault("fields", {})
        if not isinstance(fields, dict):
            continue
        section["fields"] = fields = dict(fields)
        if name in fields:
            issues.append(doc.issue((*root, key), f"{kind}.{name} is also mapped under {kind}: fields:; keep one"))
            continue
        fields[name] = value
        doc.aliases[(*root, kind, "fields", name)] = (*root, key)
    return nested


def _pydantic_issue(doc: YamlDocument, root: PathKey, err: Any, prefix: PathKey = ()) -> ConfigIssue:
    loc = (*prefix, *(str(part) for part in err["loc"]))
    path = (*root, *loc)
    if err["type"] == "extra_forbidden":
        allowed = ALLOWED_KEYS[_shape(loc[:-1])]
        return doc.issue(path, f"unknown key {loc[-1]!r}; expected one of: {', '.join(allowed)}")
    if err["type"] == "missing":
        return doc.issue(path[:-1], f"missing required key {loc[-1]!r}")
    if len(loc) >= 3 and loc[1] == "object" and err["type"] == "literal_error":
        return doc.issue(path[:-1], f"unknown vendor; expected one of: {', '.join(VENDORS)}")
    given = err.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    return doc.issue(path, f"{err['msg']}{shown}")


def _shape(loc: tuple[str, ...]) -> str:
    if not loc:
        return "file"
    if len(loc) == 1:
        return "object"
    if loc[1] == "object":
        return "objects"
    return "field" if len(loc) == 3 else "vendor"


def _compile_entry(
    layer: Layer,
    doc: YamlDocument,
    path: PathKey,
    kind: ObjectKind,
    key: str,
    entry: FieldEntry | None,
    issues: list[ConfigIssue],
) -> None:
    if entry is None:
        # `contact.lead_source: null` switches an inherited field off everywhere.
        for vendor in VENDORS:
            layer.rules[(kind, vendor, key)] = None
            layer.where[(kind, vendor, key)] = (doc, path)
        return
    canonical = tuple(entry.canonical or [key])
    for name in canonical:
        if not _NAME.match(name):
            issues.append(doc.issue((*path, "canonical"), f"{name!r}: a canonical field name is lower_snake_case"))
            return
    for vendor in VENDORS:
        if vendor not in entry.model_fields_set:
            continue
        rule_key: RuleKey = (kind, vendor, key)
        layer.where[rule_key] = (doc, (*path, vendor))
        spec = cast(VendorRule | None, getattr(entry, vendor))
        layer.rules[rule_key] = None if spec is None else _rule(doc, path, vendor, canonical, entry, spec, issues)


def _rule(
    doc: YamlDocument,
    path: PathKey,
    vendor: Vendor,
    canonical: tuple[str, ...],
    entry: FieldEntry,
    spec: VendorRule,
    issues: list[ConfigIssue],
) -> FieldRule | None:
    name = spec.transform or entry.transform or "text"
    transform_path = (*path, vendor, "transform") if spec.transform else (*path, "transform")
    options = spec.options if spec.options is not None else entry.options
    try:
        transform = build_transform(name, options, len(spec.field), len(canonical))
    except ValueError as exc:
        issues.append(doc.issue(transform_path, str(exc)))
        return None
    table = spec.values if spec.values is not None else entry.values
    values = None
    if spec.blank_for and not table:
        issues.append(doc.issue((*path, vendor, "blank_for"), "blank_for needs a value map (values) beside it"))
        return None
    if table:
        if transform.canonical_arity != 1:
            issues.append(doc.issue((*path, vendor, "values"), "a value map needs exactly one canonical field"))
            return None
        unmapped = spec.unmapped or entry.unmapped
        values = ValueMap.build(table.items(), passthrough=unmapped == "passthrough", blank_for=spec.blank_for or ())
    line, _ = doc.locate((*path, vendor))
    origin = f"{doc.file}:{line}" if line is not None else doc.file
    direction = spec.direction or entry.direction
    return FieldRule(canonical, tuple(spec.field), transform, values, direction, origin)


def combine(layers: Iterable[Layer]) -> Mappings:
    """Stack layers (shipped defaults first, the user's file last) into the active Mappings, checking the result."""
    rules: dict[RuleKey, FieldRule | None] = {}
    objects: dict[tuple[ObjectKind, str], str] = {}
    where: dict[RuleKey, tuple[YamlDocument, PathKey]] = {}
    for layer in layers:
        rules.update(layer.rules)
        objects.update(layer.objects)
        where.update(layer.where)
    grouped: dict[tuple[ObjectKind, str], list[tuple[RuleKey, FieldRule]]] = {}
    for rule_key, rule in rules.items():
        if rule is not None:
            grouped.setdefault((rule_key[0], rule_key[1]), []).append((rule_key, rule))
    issues: list[ConfigIssue] = []
    maps: dict[tuple[ObjectKind, str], ObjectMap] = {}
    for (kind, vendor), entries in grouped.items():
        object_name = objects.get((kind, vendor))
        if object_name is None:
            doc, path = where[entries[0][0]]
            issues.append(doc.issue(path, f"no {vendor} object for {kind}; add `{kind}: object: {vendor}: <name>`"))
            continue
        issues.extend(_overlaps(entries, where))
        maps[(kind, vendor)] = ObjectMap(kind, vendor, object_name, tuple(rule for _, rule in entries))
    if issues:
        raise MappingConfigError(issues)
    return Mappings(maps)


def _overlaps(
    entries: list[tuple[RuleKey, FieldRule]], where: Mapping[RuleKey, tuple[YamlDocument, PathKey]]
) -> list[ConfigIssue]:
    """Two rules reading into one canonical field, or writing one vendor field, would fight each other."""
    issues: list[ConfigIssue] = []
    readers: dict[str, str] = {}
    writers: dict[str, str] = {}
    for rule_key, rule in entries:
        doc, path = where[rule_key]
        for name in rule.canonical if rule.reads else ():
            if name in readers:
                issues.append(doc.issue(path, f"canonical field {name!r} is already read by entry {readers[name]!r}"))
            readers.setdefault(name, rule_key[2])
        for name in rule.vendor if rule.writes else ():
            if name in writers:
                issues.append(doc.issue(path, f"vendor field {name!r} is already written by entry {writers[name]!r}"))
            writers.setdefault(name, rule_key[2])
    return issues
