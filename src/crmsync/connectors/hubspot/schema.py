"""Schema discovery: HubSpot properties → ObjectSchema, deal pipelines → stages, the external-id property."""

from __future__ import annotations

from typing import Any

from crmsync.connectors.base import FieldSchema, FieldType, ObjectSchema
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.connectors.hubspot.objects import ObjectInfo
from crmsync.connectors.hubspot.records import results_of
from crmsync.errors import ConfigError, VendorResponseError

# Property groups HubSpot creates with each object (a new property must name an existing group).
PROPERTY_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tasks": "task",
    "notes": "note",
    "calls": "call",
    "meetings": "meeting",
}


def field_type(prop: dict[str, Any]) -> FieldType:
    """HubSpot `type`/`fieldType` → crmsync's FieldType."""
    name, kind, widget = prop.get("name"), prop.get("type"), prop.get("fieldType")
    if name == "hs_object_id":
        return "id"
    if prop.get("referencedObjectType"):
        return "reference"
    if kind == "enumeration":
        if widget == "booleancheckbox":
            return "boolean"
        return "multipicklist" if widget == "checkbox" else "picklist"
    if kind == "bool":
        return "boolean"
    if kind == "number":
        return "currency" if prop.get("showCurrencySymbol") else "number"
    if kind in ("date", "datetime"):
        return "date" if kind == "date" else "datetime"
    if kind == "phone_number" or widget == "phonenumber":
        return "phone"
    if kind == "string":
        if name == "email":
            return "email"
        if name == "website":
            return "url"
        return "text" if widget in ("textarea", "html") else "string"
    return "other"


def parse_field(prop: dict[str, Any], context: str) -> FieldSchema:
    name = prop.get("name")
    if not isinstance(name, str) or not name:
        raise VendorResponseError(f"{context}: a property has no name")
    meta = prop.get("modificationMetadata")
    read_only = bool(meta.get("readOnlyValue")) if isinstance(meta, dict) else False
    options = prop.get("options") or []
    values = tuple(
        str(o["value"]) for o in options if isinstance(o, dict) and "value" in o and not o.get("hidden", False)
    )
    unique = bool(prop.get("hasUniqueValue"))
    reference = prop.get("referencedObjectType")
    return FieldSchema(
        name=name,
        type=field_type(prop),
        label=str(prop.get("label") or name),
        unique=unique,
        external_id=unique,
        read_only=read_only or bool(prop.get("calculated")),
        custom=prop.get("hubspotDefined") is not True,
        picklist_values=values,
        references=(str(reference).lower() + "s",) if isinstance(reference, str) else (),
    )


def parse_stages(body: Any, context: str) -> dict[str, tuple[str, bool, bool]]:
    """Deal stages as `pipelineId:stageId → (label, is_closed, is_won)`; won = closed at probability 1.0."""
    stages: dict[str, tuple[str, bool, bool]] = {}
    for pipeline in results_of(body, context):
        pipeline_id = pipeline.get("id")
        raw_stages = pipeline.get("stages")
        if not isinstance(pipeline_id, str) or not isinstance(raw_stages, list):
            raise VendorResponseError(f"{context}: a pipeline has no id or stages")
        for stage in raw_stages:
            if not isinstance(stage, dict) or not isinstance(stage.get("id"), str):
                raise VendorResponseError(f"{context}: a stage of pipeline {pipeline_id} has no id")
            raw_meta = stage.get("metadata")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            closed = str(meta.get("isClosed", "false")).lower() == "true"
            try:
                probability = float(meta.get("probability", "nan"))
            except (TypeError, ValueError):
                probability = float("nan")
            stages[f"{pipeline_id}:{stage['id']}"] = (
                str(stage.get("label", "")),
                closed,
                closed and probability == 1.0,
            )
    return stages


async def describe(http: VendorHttp, info: ObjectInfo) -> ObjectSchema:
    context = f"hubspot {info.name} describe"
    body = parse_json(
        await http.request("GET", f"/crm/v3/properties/{info.name}", context=context),
        f"{http.connection}: {context}",
    )
    fields: dict[str, FieldSchema] = {}
    for prop in results_of(body, f"{http.connection}: {context}"):
        if prop.get("archived") is True:
            continue
        parsed = parse_field(prop, f"{http.connection}: {context}")
        fields[parsed.name] = parsed
    stages: dict[str, tuple[str, bool, bool]] = {}
    if info.name == "deals":
        pipelines_context = "hubspot deals pipelines"
        response = await http.request("GET", "/crm/v3/pipelines/deals", context=pipelines_context)
        stages = parse_stages(parse_json(response, pipelines_context), f"{http.connection}: {pipelines_context}")
    return ObjectSchema(
        name=info.name,
        label=info.name,
        fields=fields,
        id_field="hs_object_id",
        modstamp_field=info.modprop,
        stages=stages,
    )


async def ensure_external_id_property(http: VendorHttp, info: ObjectInfo, name: str) -> bool:
    """Create the unique property holding canonical ids when missing; True when it was created."""
    context = f"hubspot {info.name} property {name}"
    response = await http.request("GET", f"/crm/v3/properties/{info.name}/{name}", context=context, accept=(404,))
    if response.status_code == 200:
        prop = parse_json(response, f"{http.connection}: {context}")
        if not isinstance(prop, dict) or prop.get("hasUniqueValue") is not True:
            raise ConfigError(
                f"{http.connection}: HubSpot {info.name} property {name!r} exists but is not unique "
                "(hasUniqueValue); it cannot hold external ids"
            )
        return False
    definition = {
        "name": name,
        "label": "crmsync id",
        "description": "Canonical record id written by crmsync (upsert key); do not edit.",
        "type": "string",
        "fieldType": "text",
        "groupName": PROPERTY_GROUPS.get(info.name, "contactinformation"),
        "hasUniqueValue": True,
    }
    await http.request("POST", f"/crm/v3/properties/{info.name}", context=context, json=definition, accept=(409,))
    return True
