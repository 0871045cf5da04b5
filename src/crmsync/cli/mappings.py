"""`crmsync mappings`: the active field maps rendered as Markdown, the generated documentation of the business logic."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from crmsync.cli.status import fail, load
from crmsync.config import DEFAULT_FILE, Condition, ObjectSettings, SyncConfig
from crmsync.mapping import TRANSFORMS, FieldRule, Mappings, ObjectMap, default_mappings
from crmsync.mapping.valuemap import value_key
from crmsync.model.rules import Direction, Policy, SyncRules
from crmsync.model.values import OBJECT_KINDS, ObjectKind

VENDOR_LABELS: Mapping[str, str] = {"salesforce": "Salesforce", "hubspot": "HubSpot", "dynamics": "Dataverse"}
_RULE_DIRECTIONS: Mapping[str, str] = {"from": "read only", "to": "written only", "none": "off"}
_TRANSFORM_PLUMBING = ("name", "vendor_arity", "canonical_arity")


class Kind(StrEnum):
    company = "company"
    contact = "contact"
    deal = "deal"
    activity = "activity"


@dataclass(frozen=True, slots=True)
class _Column:
    """One table column: a configured connection (or, without a config, a vendor) and its map of the kind."""

    title: str
    object_map: ObjectMap


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell (`<stage>` would otherwise read as an HTML tag)."""
    cell = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return cell.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: object) -> str:
    # Inside a code span only the table's pipe needs escaping; entities would show literally.
    return "`" + str(text).replace("|", "\\|").replace("\n", " ") + "`"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _options(rule: FieldRule) -> dict[str, str]:
    """The transform's settings that differ from their defaults (those a transform keeps as attributes)."""
    transform: object = rule.transform
    if not dataclasses.is_dataclass(transform) or isinstance(transform, type):
        return {}
    shown: dict[str, str] = {}
    for spec in dataclasses.fields(transform):
        value = getattr(transform, spec.name)
        if spec.name in _TRANSFORM_PLUMBING or callable(value) or value == spec.default:
            continue
        if isinstance(value, tuple):
            shown[spec.name] = ", ".join(str(item) for item in value)
        elif value is True:
            shown[spec.name] = ""
        elif isinstance(value, str | int | float):
            shown[spec.name] = str(value)
    return shown


def _vendor_cell(rule: FieldRule | None) -> str:
    if rule is None:
        return "—"
    parts = [" + ".join(_code(name) for name in rule.vendor)]
    if rule.transform.name != "text":
        options = _options(rule)
        listed = ", ".join(f"{key} {_md(value)}".strip() for key, value in options.items())
        parts.append(f"{rule.transform.name} ({listed})" if listed else rule.transform.name)
    if rule.values is not None:
        parts.append("value map" + (", unmapped pass through" if rule.values.passthrough else ""))
    if rule.direction != "both":
        parts.append(_RULE_DIRECTIONS[rule.direction])
    return " · ".join(parts)


def _policy_text(policy: Policy) -> str:
    if policy.kind == "prefer":
        text = f"prefer {', '.join(policy.prefer)}"
    else:
        text = policy.kind
    return text + (", unless blank" if policy.unless_blank else "")


_CONDITION_WORDS = {
    "equals": "is",
    "in": "is one of",
    "not_equals": "is not",
    "not_in": "is none of",
    "present": "is present",
    "blank": "is blank",
}


def _condition_text(condition: Condition) -> str:
    values = ", ".join(f"`{value_key(value)}`" for value in condition.values)
    return f"{condition.field} {_CONDITION_WORDS[condition.op]}" + (f" {values}" if values else "")


def _filter_text(settings: ObjectSettings) -> str:
    """The filter too decides what syncs: a table of fields without it would claim every record does."""
    conditions = settings.filter.conditions
    if not conditions:
        return ""
    return f" Only records that match when first met: {' and '.join(_condition_text(c) for c in conditions)}."


def _delete_text(settings: ObjectSettings) -> str:
    delete = settings.delete
    text: str = delete.kind
    if delete.kind == "archive":
        text += f" ({delete.archive_field} set to `{value_key(delete.archive_value)}`)"
    return f"{text}; held when one run deletes {delete.mass_delete.describe()}"


def _direction_text(direction: Direction) -> str:
    if direction.kind in ("to", "from"):
        return f"{direction.kind} {', '.join(sorted(direction.connections))}"
    return direction.kind


def _sync_cell(rules: SyncRules | None, canonical: tuple[str, ...]) -> str:
    if rules is None:
        return ""
    notes: list[str] = []
    for name in canonical:
        prefix = f"{name}: " if len(canonical) > 1 else ""
        if name in rules.field_policies:
            notes.append(f"{prefix}policy {_policy_text(rules.field_policies[name])}")
        if name in rules.directions:
            notes.append(f"{prefix}direction {_direction_text(rules.directions[name])}")
    return "; ".join(notes)


def _rule(object_map: ObjectMap, canonical: tuple[str, ...]) -> FieldRule | None:
    return next((rule for rule in object_map.rules if rule.canonical == canonical), None)


def _canonical_rows(columns: Sequence[_Column]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(rule.canonical for column in columns for rule in column.object_map.rules))


def _value_cell(rule: FieldRule | None, canonical: Any) -> str:
    """The vendor values read as `canonical`, the one written for it in bold; — when it has none."""
    if rule is None or rule.values is None:
        return ""
    values = rule.values
    read = [key for key, value in values.to_canonical_map.items() if value == canonical]
    written = values.to_vendor_map.get(canonical)
    if canonical in values.blank_for:
        return ", ".join([*map(_code, read), "*written blank*"])
    if written is None:
        return "— (not written)"
    written_key = value_key(written)
    cells = [f"**{_code(key)}**" if key == written_key else _code(key) for key in read]
    if written_key not in read:
        back = values.to_canonical_map.get(written_key)
        cells.insert(0, f"**{_code(written_key)}** (read back as {_code(back)})")
    return ", ".join(cells)


def _value_maps(kind: ObjectKind, columns: Sequence[_Column]) -> list[str]:
    lines: list[str] = []
    for canonical in _canonical_rows(columns):
        rules = [_rule(column.object_map, canonical) for column in columns]
        mapped = [(column, rule) for column, rule in zip(columns, rules, strict=True) if rule and rule.values]
        if not mapped:
            continue
        values: dict[Any, None] = {}
        for _, rule in mapped:
            assert rule is not None and rule.values is not None
            values.update(dict.fromkeys(rule.values.to_canonical_map.values()))
            values.update(dict.fromkeys(rule.values.to_vendor_map))
            values.update(dict.fromkeys(sorted(rule.values.blank_for, key=str)))
        lines += ["", f"#### {kind}.{' + '.join(canonical)}", ""]
        header = [
            "canonical value",
            *(f"{column.title} {' + '.join(_code(n) for n in rule.vendor)}" for column, rule in mapped if rule),
        ]
        rows = [[_code(value), *(_value_cell(rule, value) for _, rule in mapped)] for value in values]
        lines += _table(header, rows)
    return lines


def _origins(kind: ObjectKind, columns: Sequence[_Column]) -> list[str]:
    rows = []
    for canonical in _canonical_rows(columns):
        cells = [(rule.origin or "?") if rule else "—" for rule in (_rule(c.object_map, canonical) for c in columns)]
        rows.append([f"{kind}.{' + '.join(canonical)}", *(_md(cell) for cell in cells)])
    return _table(["field", *(column.title for column in columns)], rows)


def _columns(source: SyncConfig | Mappings, kind: ObjectKind) -> list[_Column]:
    if isinstance(source, Mappings):
        return [
            _Column(VENDOR_LABELS.get(vendor, vendor), source.get(vendor, kind))
            for vendor in VENDOR_LABELS
            if source.has(vendor, kind)
        ]
    columns: list[_Column] = []
    for name in source.object(kind).connections:
        vendor = source.connection(name).vendor
        if source.mappings.has(vendor, kind):
            columns.append(_Column(f"{name} ({VENDOR_LABELS.get(vendor, vendor)})", source.mappings.get(vendor, kind)))
    return columns


def _section(source: SyncConfig | Mappings, kind: ObjectKind) -> list[str]:
    columns = _columns(source, kind)
    lines = ["", f"## {kind}", ""]
    rules: SyncRules | None = None
    if isinstance(source, SyncConfig):
        settings = source.object(kind)
        rules = settings.rules
        match = "; else ".join(" + ".join(key) for key in settings.match)
        lines += [
            f"Synced with {', '.join(settings.connections)}. Conflicts: {_policy_text(rules.policy)}. "
            f"Records meet by {match}.{_filter_text(settings)} Deletes: {_delete_text(settings)}.",
            "",
        ]
    header = ["canonical field", *(column.title for column in columns)]
    rows = [["*object*", *(_code(column.object_map.object) for column in columns)]]
    for canonical in _canonical_rows(columns):
        cells = [_vendor_cell(_rule(column.object_map, canonical)) for column in columns]
        rows.append([f"**{' + '.join(canonical)}**", *cells])
    if rules is not None:
        header.append("sync rules")
        rows = [
            [*row, _sync_cell(rules, canonical)]
            for row, canonical in zip(rows, [(), *_canonical_rows(columns)], strict=True)
        ]
    lines += _table(header, rows)
    value_maps = _value_maps(kind, columns)
    if value_maps:
        lines += [
            "",
            "### Value maps",
            "",
            "Each vendor value listed is read as the canonical value; the one in **bold** is written for it. "
            "A vendor value not listed is not synced (a sync error names it); a canonical value marked — "
            "is not written to that vendor.",
        ]
        lines += value_maps
    lines += ["", "### Declared at", ""]
    lines += _origins(kind, columns)
    return lines


def _transforms_used(source: SyncConfig | Mappings, kinds: Sequence[ObjectKind]) -> list[str]:
    mappings = source if isinstance(source, Mappings) else source.mappings
    names = sorted({rule.transform.name for m in mappings if m.kind in kinds for rule in m.rules} - {"text"})
    if not names:
        return []
    rows = [[_code(name), _md(TRANSFORMS[name].summary) if name in TRANSFORMS else ""] for name in names]
    lines = ["", "## Transforms", "", "Fields without a transform are trimmed text.", ""]
    return lines + _table(["transform", "what the canonical value is"], rows)


def render_mappings(source: SyncConfig | Mappings, *, kinds: Sequence[ObjectKind] | None = None) -> str:
    """The field maps as Markdown: per object kind, a table of canonical fields × connections (or vendors,
    for bare Mappings), then its value maps and where each rule was declared."""
    if isinstance(source, SyncConfig):
        available = source.kinds
        origin = f"`{source.file}` over the shipped defaults"
    else:
        available = tuple(kind for kind in OBJECT_KINDS if any(m.kind == kind for m in source))
        origin = "the shipped defaults" if source == default_mappings() else "the given field maps"
    chosen = [kind for kind in (kinds or available) if kind in available]
    lines = [
        "# crmsync field maps",
        "",
        f"Generated by `crmsync mappings` from {origin}. Each table maps crmsync's canonical fields (rows) to "
        "each CRM's fields (columns). Change them under `mappings:` in crmsync.yaml.",
    ]
    for kind in chosen:
        lines += _section(source, kind)
    lines += _transforms_used(source, chosen)
    return "\n".join(lines) + "\n"


def mappings(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help=f"The configuration (default: ./{DEFAULT_FILE}, else the shipped maps)."),
    ] = None,
    object: Annotated[list[Kind] | None, typer.Option("--object", "-o", help="Only this object kind.")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Write the Markdown to this file.")] = None,
) -> None:
    """Render the active field maps (shipped defaults overlaid by crmsync.yaml) as Markdown."""
    path = config if config is not None else Path(DEFAULT_FILE)
    source: SyncConfig | Mappings
    if config is None and not path.exists():
        source = default_mappings()
    else:
        source = load(path)
    kinds = [_kind(kind) for kind in object or ()]
    if isinstance(source, SyncConfig):
        unsynced = [kind for kind in kinds if kind not in source.kinds]
        if unsynced:
            raise fail(f"{', '.join(unsynced)}: not synced by {source.file} (objects: {', '.join(source.kinds)})", 2)
    text = render_mappings(source, kinds=kinds or None)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def _kind(kind: Kind) -> ObjectKind:
    return next(known for known in OBJECT_KINDS if known == kind.value)


__all__ = ["mappings", "render_mappings"]
