"""Describe → ObjectSchema: Salesforce field types, flags, picklists, references and opportunity stages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmsync.connectors.base import FieldSchema, FieldType, ObjectSchema
from crmsync.errors import VendorResponseError

TYPE_MAP: dict[str, FieldType] = {
    "id": "id",
    "string": "string",
    "combobox": "string",
    "encryptedstring": "string",
    "textarea": "text",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "boolean": "boolean",
    "int": "integer",
    "long": "integer",
    "double": "number",
    "currency": "currency",
    "percent": "percent",
    "date": "date",
    "datetime": "datetime",
    "picklist": "picklist",
    "multipicklist": "multipicklist",
    "reference": "reference",
    "address": "address",
}

# A fresh org's stage table (closed, won); orgs that customise stages expose theirs through OpportunityStage.
STANDARD_STAGES: dict[str, tuple[bool, bool]] = {
    "Prospecting": (False, False),
    "Qualification": (False, False),
    "Needs Analysis": (False, False),
    "Value Proposition": (False, False),
    "Id. Decision Makers": (False, False),
    "Perception Analysis": (False, False),
    "Proposal/Price Quote": (False, False),
    "Negotiation/Review": (False, False),
    "Closed Won": (True, True),
    "Closed Lost": (True, False),
}


def parse_field(raw: Mapping[str, Any]) -> FieldSchema:
    name = raw["name"]
    if not isinstance(name, str):
        raise TypeError("field name is not a string")
    sf_type = str(raw.get("type", ""))
    createable, updateable = bool(raw.get("createable")), bool(raw.get("updateable"))
    picklist = raw.get("picklistValues") or []
    values = tuple(str(p["value"]) for p in picklist if isinstance(p, dict) and p.get("active", True) and "value" in p)
    length = raw.get("length")
    return FieldSchema(
        name=name,
        type=TYPE_MAP.get(sf_type, "other"),
        label=str(raw.get("label") or name),
        # Salesforce's own rule for "must be given on create": not nillable, createable, no default on create.
        required=not raw.get("nillable", True) and createable and not raw.get("defaultedOnCreate", False),
        unique=bool(raw.get("unique")),
        external_id=bool(raw.get("externalId")),
        read_only=not createable and not updateable,
        custom=bool(raw.get("custom")) or name.endswith("__c"),
        length=length if isinstance(length, int) and length > 0 else None,
        picklist_values=values,
        restricted=bool(raw.get("restrictedPicklist", False)),
        references=tuple(str(r) for r in raw.get("referenceTo") or ()),
    )


def parse_describe(body: Any, context: str, stage_flags: Mapping[str, tuple[bool, bool]] | None = None) -> ObjectSchema:
    """A describe document to an ObjectSchema; anything not shaped as documented is a VendorResponseError."""
    try:
        if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
            raise TypeError("no fields array")
        fields = {f.name: f for f in (parse_field(raw) for raw in body["fields"])}
        name, label = str(body["name"]), str(body.get("label") or body["name"])
    except (KeyError, TypeError) as exc:
        raise VendorResponseError(
            f"{context}: the describe response is not what Salesforce documents ({exc})"
        ) from None
    stages: dict[str, tuple[str, bool, bool]] = {}
    stage_field = fields.get("StageName") if name == "Opportunity" else None
    if stage_field is not None:
        flags = stage_flags or STANDARD_STAGES
        for value in stage_field.picklist_values:
            closed, won = flags.get(value, (False, False))
            stages[value] = (value, closed, won)
    return ObjectSchema(
        name=name,
        label=label,
        fields=fields,
        id_field="Id",
        modstamp_field="SystemModstamp",
        stages=stages,
    )
