"""`crmsync check`'s value-map findings: picklist entries against the vendor's values, and across connections (S20)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from crmsync.connectors.base import FieldSchema, ObjectSchema
from crmsync.engine.schema_findings import At, Finding
from crmsync.mapping import OMIT, FieldRule, ObjectMap, TransformError
from crmsync.mapping.valuemap import value_key
from crmsync.model.rules import SyncRules

_PICKLISTS = ("picklist", "multipicklist")
_STAGE_SEPARATOR = ":"  # ObjectSchema.stages keys join their parts with it (pipeline:stage, state:status)
_COMBINATION_LIMIT = 20_000  # combinations of multi-field picklists tried before giving up honestly


def rule_writes(rule: FieldRule, rules: SyncRules | None, connection: str) -> bool:
    """Whether the rule writes to `connection`: its own direction, narrowed by the object's `objects:` settings."""
    if not rule.writes:
        return False
    return rules is None or any(rules.direction_for(name).writes_to(connection) for name in rule.canonical)


def rule_reads(rule: FieldRule, rules: SyncRules | None, connection: str) -> bool:
    """Whether the rule reads from `connection`, as `rule_writes` decides writing."""
    if not rule.reads:
        return False
    return rules is None or any(rules.direction_for(name).reads_from(connection) for name in rule.canonical)


def declared(rule: FieldRule) -> str:
    """Where the rule was declared, for a finding's fix (the shipped defaults have no origin)."""
    return f" (declared at {rule.origin})" if rule.origin else ""


def _quote(values: Sequence[str]) -> str:
    # Every value, however many: `crmsync check` is where a user learns what will not travel (S20).
    return ", ".join(values)


def _stages(rule: FieldRule, schema: ObjectSchema, domains: Sequence[Sequence[str]]) -> list[tuple[str, ...]] | None:
    """The vendor's stage keys as values of this rule's leading fields, when they are that.

    HubSpot's `pipeline:stage` keys are both fields of the deal-stage rule; Dataverse's `state:status`
    keys are the first two of its three opportunity fields. Each part must be a value of its field, else
    the stages say nothing about this rule (None).
    """
    if len(rule.vendor) < 2 or not schema.stages:
        return None
    split = [tuple(key.split(_STAGE_SEPARATOR)) for key in schema.stages]
    width = len(split[0])
    if width > len(rule.vendor) or any(len(parts) != width for parts in split):
        return None
    if any(part not in domains[i] for parts in split for i, part in enumerate(parts)):
        return None
    return split


def _parts(rule: FieldRule, key: str) -> tuple[Any, ...] | None:
    """The vendor values a value-map key stands for, one per vendor field (None: the transform cannot say)."""
    if len(rule.vendor) == 1:
        return (key,)
    try:
        return rule.transform.outbound((key,))
    except TransformError:
        return None


def _maps(rule: FieldRule, raw: tuple[Any, ...]) -> bool:
    try:
        rule.to_canonical(raw)
    except TransformError:
        return False
    return True


def _concrete(part: Any) -> bool:
    return part is not OMIT and part is not None


def check_values(
    at: At, rule: FieldRule, fields: Sequence[FieldSchema], schema: ObjectSchema, writes: bool, reads: bool
) -> list[Finding]:
    """A value map against the vendor's picklist: every entry is a vendor value, every vendor value has an entry."""
    values = rule.values
    assert values is not None
    label = "+".join(rule.vendor)
    plain = [f.name for f in fields if f.type not in _PICKLISTS or not f.picklist_values]
    if plain:
        message = f"value map not checked: {', '.join(plain)} is not a picklist with listed values"
        return [at.finding("info", label, message)]
    domains = [f.picklist_values for f in fields]
    folded = [{value.casefold() for value in domain} for domain in domains]
    stages = _stages(rule, schema, domains)
    valid = {tuple(part.casefold() for part in parts) for parts in stages} if stages is not None else set()
    width = len(stages[0]) if stages else 0
    written = {value_key(v) for v in values.to_vendor_map.values()}
    findings: list[Finding] = []
    never_read: list[str] = []
    unlisted: list[str] = []
    unchecked: list[str] = []
    for key, canonical in values.to_canonical_map.items():
        parts = _parts(rule, key)
        if parts is None:
            unchecked.append(key)
            continue
        outside = [i for i, part in enumerate(parts) if _concrete(part) and value_key(part).casefold() not in folded[i]]
        wrong = [(fields[i].name, value_key(parts[i])) for i in outside if fields[i].restricted]
        lead = parts[:width]
        if outside and not wrong:
            unlisted.append(key)  # an unrestricted picklist takes it, and records may hold it
            continue
        if wrong:
            what = "; ".join(f"{value!r} is not a {name} value" for name, value in wrong)
        elif valid and all(map(_concrete, lead)) and tuple(value_key(p).casefold() for p in lead) not in valid:
            what = f"{key!r} is not one of {at.object}'s stages"
        else:
            continue
        if writes and key in written:
            message = f"value map entry {key!r} ↔ {canonical!r}: {what}; writing {canonical!r} here fails"
            fix = f"add the value to the picklist in {at.vendor}, or correct the value map{declared(rule)}"
            findings.append(at.finding("error", label, message, fix))
        else:
            never_read.append(key)
    if never_read:
        message = f"value map entries that are not {label} values (never read): {_quote(never_read)}"
        findings.append(at.finding("warning", label, message, f"correct the value map{declared(rule)}"))
    if unlisted:
        message = (
            f"value map entries not among {label}'s listed values, which it takes anyway (an unrestricted "
            f"picklist): {_quote(unlisted)}"
        )
        findings.append(at.finding("info", label, message))
    if unchecked:
        split = rule.transform.name
        message = f"value map entries the {split} transform cannot split, not checked: {_quote(unchecked)}"
        findings.append(at.finding("info", label, message))
    if reads:
        findings.extend(_unmapped(at, rule, domains, stages, schema))
    return findings


def _unmapped(
    at: At,
    rule: FieldRule,
    domains: Sequence[Sequence[str]],
    stages: Sequence[tuple[str, ...]] | None,
    schema: ObjectSchema,
) -> list[Finding]:
    """Vendor values with no entry in the value map (scenario S20): a record holding one syncs without the field."""
    label = "+".join(rule.vendor)
    notes: list[Finding] = []
    if len(domains) == 1:
        missing = [value for value in domains[0] if not _maps(rule, (value,))]
    elif stages is not None:
        found = _unmapped_stages(rule, domains, stages, schema)
        if found is None:
            return [at.finding("info", label, "too many combinations of values to list the unmapped ones")]
        missing = found
    else:
        found = _unmapped_parts(rule, domains)
        if found is None:
            return [at.finding("info", label, "too many combinations of values to list the unmapped ones")]
        missing = found
        message = (
            f"which {label} values go together is not described, so each value is checked on its own: "
            "one that maps with some value of the other fields counts as mapped"
        )
        notes.append(at.finding("info", label, message))
    if not missing:
        return notes
    count = f"{len(missing)} {at.vendor} value{'s' if len(missing) != 1 else ''}"
    message = (
        f"unmapped: not read — {count} with no entry in the value map; a record holding one "
        f"syncs without {at.kind}.{'+'.join(rule.canonical)}: {_quote(missing)}"
    )
    return [*notes, at.finding("warning", label, message, f"add them to the value map{declared(rule)}")]


def _unmapped_stages(
    rule: FieldRule, domains: Sequence[Sequence[str]], stages: Sequence[tuple[str, ...]], schema: ObjectSchema
) -> list[str] | None:
    """Keys read from the vendor's stages (times the values of the fields the stages do not cover) with no entry."""
    width = len(stages[0])
    rest: list[list[Any]] = [[*domain, None] for domain in domains[width:]]
    size = len(stages)
    for choice in rest:
        size *= len(choice)
    if size > _COMBINATION_LIMIT:
        return None
    missing: dict[str, str] = {}
    for lead in stages:
        for tail in itertools.product(*rest):
            raw = (*lead, *tail)
            if _maps(rule, raw):
                continue
            try:
                key = str(rule.transform.inbound(raw)[0])
            except TransformError:
                key = _STAGE_SEPARATOR.join("" if part is None else part for part in raw)
            if key in missing:
                continue
            label = schema.stages.get(_STAGE_SEPARATOR.join(lead), ("", False, False))[0]
            if tail:
                shown = ", ".join(
                    f"{name}={'' if part is None else part}" for name, part in zip(rule.vendor, raw, strict=True)
                )
                missing[key] = f"{key} (as {shown})"
            else:
                missing[key] = f"{key} ({label})" if label else key
    return list(missing.values())


def _unmapped_parts(rule: FieldRule, domains: Sequence[Sequence[str]]) -> list[str] | None:
    """Values of a multi-field rule's picklists that map in no combination with the other fields' values.

    Valid combinations are not known (a Dataverse task status belongs to one state), so a value is listed
    only when no combination reads into a mapped key: never a false alarm, possibly a missed one.
    """
    size = 1
    for domain in domains:
        size *= len(domain)
    if size > _COMBINATION_LIMIT:
        return None
    mapped: set[tuple[int, str]] = set()
    for raw in itertools.product(*domains):
        if _maps(rule, tuple(raw)):
            mapped.update(enumerate(raw))
    return [
        f"{rule.vendor[i]}={value}" for i, domain in enumerate(domains) for value in domain if (i, value) not in mapped
    ]


def check_value_coverage(maps: Mapping[str, ObjectMap], rules: SyncRules | None = None) -> list[Finding]:
    """Canonical values one connection reads that another's value map cannot write (scenario S20).

    `maps` holds one kind's object map per connection name. A value read from HubSpot's Renewals
    pipeline with no Salesforce stage is listed under Salesforce: it would not be written there.
    """
    findings: list[Finding] = []
    for target, target_map in maps.items():
        for rule in target_map.rules:
            if rule.values is None or rule.values.passthrough or not rule_writes(rule, rules, target):
                continue
            writable = set(rule.values.to_vendor_map)
            blank = rule.values.blank_for
            gaps: dict[str, list[str]] = {}
            blanked: dict[str, list[str]] = {}
            for source, source_map in maps.items():
                source_rule = _rule_for(source_map, rule.canonical)
                if source == target or source_rule is None or not rule_reads(source_rule, rules, source):
                    continue
                if source_rule.values is None or source_rule.values.passthrough:
                    continue  # free values: nothing to compare with
                for value in dict.fromkeys(source_rule.values.to_canonical_map.values()):
                    if value in blank:
                        blanked.setdefault(str(value), []).append(source)
                    elif value not in writable:
                        gaps.setdefault(str(value), []).append(source)
            at = At(target, target_map.vendor, target_map.object, target_map.kind)
            if blanked:
                listed = [f"{value} (from {', '.join(sources)})" for value, sources in blanked.items()]
                message = (
                    f"written blank, as the value map says (blank_for): canonical "
                    f"{target_map.kind}.{'+'.join(rule.canonical)} values with no {target_map.vendor} value: "
                    f"{_quote(listed)}"
                )
                findings.append(at.finding("info", "+".join(rule.vendor), message))
            if gaps:
                listed = [f"{value} (from {', '.join(sources)})" for value, sources in gaps.items()]
                message = (
                    f"unmapped: would not be written — canonical {target_map.kind}.{'+'.join(rule.canonical)} "
                    f"values other connections read, with no {target_map.vendor} value: {_quote(listed)}"
                )
                fix = f"add them to the value map{declared(rule)}"
                findings.append(at.finding("warning", "+".join(rule.vendor), message, fix))
    return findings


def _rule_for(object_map: ObjectMap, canonical: tuple[str, ...]) -> FieldRule | None:
    return next((rule for rule in object_map.rules if rule.canonical == canonical), None)


__all__ = [
    "check_value_coverage",
    "check_values",
    "declared",
    "rule_reads",
    "rule_writes",
]
