"""`crmsync check` as pure functions: the active field maps compared with what each CRM describes, as findings."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from crmsync.config.values import SyncConfig
from crmsync.connectors.base import FieldSchema, ObjectSchema
from crmsync.engine.connections import external_id_field
from crmsync.engine.link_findings import unsynced_parents
from crmsync.engine.schema_findings import At, Finding, Remedy
from crmsync.engine.schema_values import check_value_coverage, check_values, declared, rule_reads, rule_writes
from crmsync.mapping import FieldRule, ObjectMap
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
    at = At(connection_name, vendor, object_map.object, object_map.kind)
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


def _check_rule(at: At, rule: FieldRule, schema: ObjectSchema, rules: SyncRules | None) -> list[Finding]:
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
        fix = f"create the field in {at.vendor}, or correct the rule{declared(rule)}"
        findings.append(at.finding("error", name, message, fix))
    if findings:
        return findings
    writes = rule_writes(rule, rules, at.connection)
    if writes:
        for described in found:
            if described.read_only:
                message = f"{described.name} is read-only in {at.object}, but {canonical} is written to it"
                fix = f"map it with `direction: from` for {at.vendor}{declared(rule)}, or map another field"
                findings.append(at.finding("error", described.name, message, fix))
    if rule.values is not None:
        findings.extend(check_values(at, rule, found, schema, writes, rule_reads(rule, rules, at.connection)))
    return findings


def _required(
    at: At, object_map: ObjectMap, schema: ObjectSchema, ext: str | None, rules: SyncRules | None
) -> list[Finding]:
    """Required vendor fields (required and not defaulted) that no written rule fills: creates would be refused."""
    written = {name for rule in object_map.rules if rule_writes(rule, rules, at.connection) for name in rule.vendor}
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


def _external_id(at: At, schema: ObjectSchema, ext: str | None) -> list[Finding]:
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
