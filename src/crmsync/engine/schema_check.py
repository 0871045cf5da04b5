"""`crmsync check` as pure functions: the active field maps compared with what each CRM describes, as findings."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import FieldSchema, ObjectSchema
from crmsync.engine.connections import external_id_field
from crmsync.engine.link_findings import unsynced_parents
from crmsync.engine.schema_findings import Finding, Remedy, Severity
from crmsync.mapping import OMIT, FieldRule, ObjectMap, TransformError
from crmsync.mapping.valuemap import value_key
from crmsync.model.rules import SyncRules
from crmsync.model.values import ObjectKind

ID_LENGTH = 36
"""Canonical ids are UUIDs written as text: a shorter external-id field cannot hold them."""

SUGGESTED_FIELDS: Mapping[str, str] = {
    "salesforce": "Crmsync_Id__c",
    "hubspot": "crmsync_id",
    "dynamics": "new_crmsyncid",
}
"""The external-id field suggested when a connection names none (HubSpot's setting defaults to it)."""

CREATED_BY_FIX = frozenset({"hubspot", "dynamics"})
"""Vendors whose API creates an external-id field (HubSpot properties; Dataverse columns and alternate keys)."""

SETTING_NAMES: Mapping[str, str] = {
    "salesforce": "external_id_fields",
    "hubspot": "external_id_properties",
    "dynamics": "external_ids",
}
"""The connection setting in crmsync.yaml that names each object's external-id field."""

_PICKLISTS = ("picklist", "multipicklist")
_STAGE_SEPARATOR = ":"  # ObjectSchema.stages keys join their parts with it (pipeline:stage, state:status)
_COMBINATION_LIMIT = 20_000  # combinations of multi-field picklists tried before giving up honestly


@dataclass(frozen=True, slots=True)
class CheckTarget:
    """One object map to check: a canonical kind in one connection, and where that connection keeps crmsync's id."""

    kind: ObjectKind
    connection: str
    vendor: str
    object_map: ObjectMap
    external_id_field: str | None


@dataclass(frozen=True, slots=True)
class Discovery:
    """What `describe()` answered: schemas by (connection, object), failures by (connection, object or None)."""

    schemas: Mapping[tuple[str, str], ObjectSchema] = field(default_factory=dict)
    failures: Mapping[tuple[str, str | None], Finding] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _At:
    connection: str
    vendor: str
    object: str
    kind: ObjectKind

    def finding(
        self,
        severity: Severity,
        field: str | None,
        message: str,
        fix: str | None = None,
        remedy: Remedy | None = None,
    ) -> Finding:
        return Finding(severity, self.connection, self.object, field, message, fix, remedy)


def check_targets(config: SyncConfig) -> list[CheckTarget]:
    """Every (kind, connection) the configuration syncs, in dependency order."""
    targets: list[CheckTarget] = []
    for kind in config.kinds:
        for name in config.object(kind).connections:
            connection = config.connection(name)
            object_map = config.mappings.get(connection.vendor, kind)
            ext = external_id_field(connection, object_map.object)
            targets.append(CheckTarget(kind, name, connection.vendor, object_map, ext))
    return targets


def check_config(config: SyncConfig, discovery: Discovery) -> list[Finding]:
    """Every finding for the configuration, given what the connections described (or why they could not)."""
    findings: list[Finding] = list(discovery.failures.values())
    targets = check_targets(config)
    for target in targets:
        schema = discovery.schemas.get((target.connection, target.object_map.object))
        if schema is None:
            continue  # its failure is already listed
        rules = config.object(target.kind).rules
        findings.extend(
            check_object(
                target.connection,
                target.vendor,
                target.object_map,
                schema,
                target.external_id_field,
                rules=rules,
            )
        )
    for kind in config.kinds:
        maps = {t.connection: t.object_map for t in targets if t.kind == kind}
        findings.extend(check_value_coverage(maps, config.object(kind).rules))
    return findings + unsynced_parents(config)


def check_object(
    connection_name: str,
    vendor: str,
    object_map: ObjectMap,
    schema: ObjectSchema,
    external_id_field: str | None,
    *,
    rules: SyncRules | None = None,
) -> list[Finding]:
    """One object map of one connection against that connection's description of the object.

    `rules` (the object's `objects:` settings) narrows which fields are written to this connection;
    without it, a rule's own direction decides.
    """
    at = _At(connection_name, vendor, object_map.object, object_map.kind)
    findings: list[Finding] = []
    for rule in object_map.rules:
        findings.extend(_check_rule(at, rule, schema, rules))
    findings.extend(_required(at, object_map, schema, external_id_field, rules))
    findings.extend(_external_id(at, schema, external_id_field))
    if not any(f.severity == "error" for f in findings):
        mapped = len({name for rule in object_map.rules for name in rule.vendor})
        ext = f"; crmsync's id in {external_id_field}" if external_id_field in schema.fields else ""
        findings.append(at.finding("info", None, f"{object_map.kind}: all {mapped} mapped fields found{ext}"))
    return findings


def _writes(rule: FieldRule, rules: SyncRules | None, connection: str) -> bool:
    if not rule.writes:
        return False
    return rules is None or any(rules.direction_for(name).writes_to(connection) for name in rule.canonical)


def _reads(rule: FieldRule, rules: SyncRules | None, connection: str) -> bool:
    if not rule.reads:
        return False
    return rules is None or any(rules.direction_for(name).reads_from(connection) for name in rule.canonical)


def _declared(rule: FieldRule) -> str:
    return f" (declared at {rule.origin})" if rule.origin else ""


def _check_rule(at: _At, rule: FieldRule, schema: ObjectSchema, rules: SyncRules | None) -> list[Finding]:
    canonical = f"{at.kind}.{'+'.join(rule.canonical)}"
    found: list[FieldSchema] = []
    findings: list[Finding] = []
    for name in rule.vendor:
        described = schema.field(name)
        if described is not None:
            found.append(described)
            continue
        close = difflib.get_close_matches(name, list(schema.fields), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        message = f"{name} (mapped from {canonical}) does not exist in {at.object}{hint}"
        fix = f"create the field in {at.vendor}, or correct the rule{_declared(rule)}"
        findings.append(at.finding("error", name, message, fix))
    if findings:
        return findings
    writes = _writes(rule, rules, at.connection)
    if writes:
        for described in found:
            if described.read_only:
                message = f"{described.name} is read-only in {at.object}, but {canonical} is written to it"
                fix = f"map it with `direction: from` for {at.vendor}{_declared(rule)}, or map another field"
                findings.append(at.finding("error", described.name, message, fix))
    if rule.values is not None:
        findings.extend(_values(at, rule, found, schema, writes, _reads(rule, rules, at.connection)))
    return findings


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


def _values(
    at: _At, rule: FieldRule, fields: Sequence[FieldSchema], schema: ObjectSchema, writes: bool, reads: bool
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
            fix = f"add the value to the picklist in {at.vendor}, or correct the value map{_declared(rule)}"
            findings.append(at.finding("error", label, message, fix))
        else:
            never_read.append(key)
    if never_read:
        message = f"value map entries that are not {label} values (never read): {_quote(never_read)}"
        findings.append(at.finding("warning", label, message, f"correct the value map{_declared(rule)}"))
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
    at: _At,
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
    return [*notes, at.finding("warning", label, message, f"add them to the value map{_declared(rule)}")]


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


def _required(
    at: _At, object_map: ObjectMap, schema: ObjectSchema, ext: str | None, rules: SyncRules | None
) -> list[Finding]:
    """Required vendor fields (required and not defaulted) that no written rule fills: creates would be refused."""
    written = {name for rule in object_map.rules if _writes(rule, rules, at.connection) for name in rule.vendor}
    mapped = {name for rule in object_map.rules for name in rule.vendor}
    findings: list[Finding] = []
    for described in schema.fields.values():
        name = described.name
        if not described.required or described.read_only or name in written or name in (ext, schema.id_field):
            continue
        if described.type == "reference":
            targets = f" (a link to {', '.join(described.references)})" if described.references else ""
            message = f"required reference {name}{targets}: creates here need the record's parent to be linked"
            findings.append(at.finding("warning", name, message))
        elif name in mapped:
            message = f"required field {name} is mapped but never written to {at.connection}: creates here fail"
            findings.append(at.finding("error", name, message, "let the field be written to this connection"))
        else:
            message = f"required field {name} has no mapping: creating a {at.object} here fails"
            fix = f"map it in crmsync.yaml: `mappings: {at.kind}.<field>: {{{at.vendor}: {name}, ...}}`"
            findings.append(at.finding("error", name, message, fix))
    return findings


def _external_id(at: _At, schema: ObjectSchema, ext: str | None) -> list[Finding]:
    """The field carrying crmsync's id: it exists, and the vendor enforces its uniqueness (upsert key)."""
    vendor, setting = at.vendor, SETTING_NAMES.get(at.vendor, "external id")
    creatable = vendor in CREATED_BY_FIX
    if ext is None:
        suggested = SUGGESTED_FIELDS.get(vendor, "crmsync_id")
        remedy = Remedy(vendor, at.connection, at.object, suggested, automatic=creatable, configure=True)
        message = (
            f"no external-id field configured for {at.object}: without an upsert key, "
            "a create retried after a timeout may create the record twice"
        )
        if creatable:
            fix = f"name {suggested} in crmsync.yaml (connections: {at.connection}: {setting}), then `--fix` creates it"
        else:
            fix = f"create {suggested} and name it in crmsync.yaml (connections: {at.connection}: {setting})"
        return [at.finding("warning", None, message, fix, remedy)]
    described = schema.field(ext)
    if described is None:
        remedy = Remedy(vendor, at.connection, at.object, ext, automatic=creatable)
        fix = "run `crmsync check --fix` to create it" if creatable else "an administrator creates it (listed below)"
        return [at.finding("error", ext, f"external-id field {ext} does not exist in {at.object}", fix, remedy)]
    findings: list[Finding] = []
    if described.read_only:
        findings.append(at.finding("error", ext, f"external-id field {ext} is read-only", "name a writable field"))
    if vendor == "salesforce" and not described.external_id:
        message = f"{ext} is not marked External ID: it cannot be an upsert key"
        findings.append(at.finding("error", ext, message, f"tick External ID on {at.object}.{ext} in Setup"))
    elif vendor == "salesforce" and not described.unique:
        message = f"{ext} is not marked Unique: nothing stops two records carrying one id"
        findings.append(at.finding("warning", ext, message, f"tick Unique on {at.object}.{ext} in Setup"))
    elif vendor == "hubspot" and not described.unique:
        message = f"property {ext} is not unique (hasUniqueValue): it cannot be an upsert key"
        fix = f"HubSpot cannot make an existing property unique: name a new one in {setting}, then `--fix`"
        findings.append(at.finding("error", ext, message, fix))
    elif vendor == "dynamics" and not described.unique:
        message = (
            f"column {ext} has no active alternate key (none, or its index is still building): not an upsert key yet"
        )
        remedy = Remedy(vendor, at.connection, at.object, ext, automatic=True)
        findings.append(at.finding("error", ext, message, "run `crmsync check --fix` to create the key", remedy))
    if described.length is not None and described.length < ID_LENGTH:
        message = f"{ext} holds {described.length} characters; crmsync's ids have {ID_LENGTH}"
        findings.append(at.finding("error", ext, message, f"make it at least {ID_LENGTH} characters long"))
    return findings


def check_value_coverage(maps: Mapping[str, ObjectMap], rules: SyncRules | None = None) -> list[Finding]:
    """Canonical values one connection reads that another's value map cannot write (scenario S20).

    `maps` holds one kind's object map per connection name. A value read from HubSpot's Renewals
    pipeline with no Salesforce stage is listed under Salesforce: it would not be written there.
    """
    findings: list[Finding] = []
    for target, target_map in maps.items():
        for rule in target_map.rules:
            if rule.values is None or rule.values.passthrough or not _writes(rule, rules, target):
                continue
            writable = set(rule.values.to_vendor_map)
            blank = rule.values.blank_for
            gaps: dict[str, list[str]] = {}
            blanked: dict[str, list[str]] = {}
            for source, source_map in maps.items():
                source_rule = _rule_for(source_map, rule.canonical)
                if source == target or source_rule is None or not _reads(source_rule, rules, source):
                    continue
                if source_rule.values is None or source_rule.values.passthrough:
                    continue  # free values: nothing to compare with
                for value in dict.fromkeys(source_rule.values.to_canonical_map.values()):
                    if value in blank:
                        blanked.setdefault(str(value), []).append(source)
                    elif value not in writable:
                        gaps.setdefault(str(value), []).append(source)
            at = _At(target, target_map.vendor, target_map.object, target_map.kind)
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
                fix = f"add them to the value map{_declared(rule)}"
                findings.append(at.finding("warning", "+".join(rule.vendor), message, fix))
    return findings


def _rule_for(object_map: ObjectMap, canonical: tuple[str, ...]) -> FieldRule | None:
    return next((rule for rule in object_map.rules if rule.canonical == canonical), None)


__all__ = [
    "ID_LENGTH",
    "SETTING_NAMES",
    "SUGGESTED_FIELDS",
    "CheckTarget",
    "Discovery",
    "check_config",
    "check_object",
    "check_targets",
    "check_value_coverage",
]
