"""Object names per vendor by canonical kind, and the external-id fields the sandbox's emulators declare."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, cast

from crmsync.emulators.registry import VendorName
from crmsync.model.values import ObjectKind

SALESFORCE_EXTERNAL_ID = "Crmsync_Id__c"
HUBSPOT_EXTERNAL_ID = "crmsync_id"
DYNAMICS_EXTERNAL_ID = "new_crmsyncid"

EXTERNAL_ID_FIELDS: Mapping[VendorName, str] = MappingProxyType(
    {"salesforce": SALESFORCE_EXTERNAL_ID, "hubspot": HUBSPOT_EXTERNAL_ID, "dynamics": DYNAMICS_EXTERNAL_ID}
)

OBJECTS: Mapping[VendorName, Mapping[ObjectKind, str]] = MappingProxyType(
    {
        "salesforce": MappingProxyType(
            {"company": "Account", "contact": "Contact", "deal": "Opportunity", "activity": "Task"}
        ),
        "hubspot": MappingProxyType(
            {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "tasks"}
        ),
        "dynamics": MappingProxyType(
            {"company": "account", "contact": "contact", "deal": "opportunity", "activity": "task"}
        ),
    }
)
"""`OBJECTS[vendor][kind]`: the vendor's object synced as that canonical kind."""

# HubSpot wants every property in an existing group; these are the groups each object starts with.
_HUBSPOT_GROUPS = {
    "companies": "companyinformation",
    "contacts": "contactinformation",
    "deals": "dealinformation",
    "tasks": "task",
}


def object_name(vendor: VendorName, name: str) -> str:
    """The vendor's object for a canonical kind (`contact` → `Contact`); any other name is the vendor's own."""
    return OBJECTS[vendor].get(cast(ObjectKind, name), name)


def external_id_declarations(vendor: VendorName) -> dict[str, Any]:
    """Emulator settings that declare crmsync's external-id field on the four synced objects."""
    objects = list(OBJECTS[vendor].values())
    if vendor == "salesforce":
        field = {"name": SALESFORCE_EXTERNAL_ID, "label": "crmsync id", "external_id": True, "unique": True}
        return {"custom_fields": {obj: [field] for obj in objects}}
    if vendor == "hubspot":
        return {
            "custom_properties": [
                {
                    "objectType": obj,
                    "name": HUBSPOT_EXTERNAL_ID,
                    "label": "crmsync id",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": _HUBSPOT_GROUPS[obj],
                    "hasUniqueValue": True,
                }
                for obj in objects
            ]
        }
    column = {"name": DYNAMICS_EXTERNAL_ID, "max_length": 100, "alternate_key": True}
    return {"custom_columns": {table: [column] for table in objects}}


def merge_settings(vendor: VendorName, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sandbox's declarations plus a caller's emulator settings; lists of custom fields are combined."""
    merged = external_id_declarations(vendor)
    for key, value in (overrides or {}).items():
        ours = merged.get(key)
        if isinstance(ours, list) and isinstance(value, list):
            merged[key] = [*ours, *value]
        elif isinstance(ours, dict) and isinstance(value, Mapping):
            combined = dict(ours)
            for obj, extra in value.items():
                combined[obj] = [*combined.get(obj, []), *extra]
            merged[key] = combined
        else:
            merged[key] = value
    return merged


__all__ = [
    "DYNAMICS_EXTERNAL_ID",
    "EXTERNAL_ID_FIELDS",
    "HUBSPOT_EXTERNAL_ID",
    "OBJECTS",
    "SALESFORCE_EXTERNAL_ID",
    "external_id_declarations",
    "merge_settings",
    "object_name",
]
