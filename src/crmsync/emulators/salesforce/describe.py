"""Describe documents: describe global, basic info, full object describe with field metadata."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.salesforce.schema import FieldDef, ObjectDef

_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
    "address": "urn:address",
}  # fmt: skip
_TEXTUAL = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"})


def _object_flags(obj: ObjectDef) -> dict[str, Any]:
    writable = obj.createable
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": writable,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": writable,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name in {"Account", "Contact", "Opportunity", "User"},
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.mergeable,
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": writable,
        "updateable": writable,
    }


def urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    return {**_object_flags(obj), "urls": urls(obj, version)}


def basic_info(obj: ObjectDef, version: str, recent: list[dict[str, Any]]) -> dict[str, Any]:
    return {"objectDescribe": global_entry(obj, version), "recentItems": recent}


def describe_field(fdef: FieldDef) -> dict[str, Any]:
    ftype = fdef.type
    textual = ftype in _TEXTUAL or ftype == "id" or ftype == "reference"
    return {
        "aggregatable": ftype not in {"textarea", "address", "boolean"} or ftype == "boolean",
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": fdef.length * 3 if textual else 0,
        "calculated": fdef.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": fdef.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": fdef.createable,
        "custom": fdef.custom,
        "defaultValue": fdef.default_value,
        "defaultValueFormula": None,
        "defaultedOnCreate": fdef.defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": fdef.digits,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": fdef.external_id,
        "extraTypeInfo": None,
        "filterable": ftype not in {"textarea", "address"},
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": ftype not in {"textarea", "address", "double", "currency", "percent", "datetime"},
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": fdef.id_lookup,
        "inlineHelpText": None,
        "label": fdef.label,
        "length": fdef.length if textual else 0,
        "mask": None,
        "maskType": None,
        "name": fdef.name,
        "nameField": fdef.name == "Name",
        "namePointing": fdef.polymorphic,
        "nillable": fdef.nillable,
        "permissionable": fdef.nillable and fdef.updateable,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == fdef.default_value,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in fdef.picklist
        ],
        "polymorphicForeignKey": fdef.polymorphic,
        "precision": fdef.precision,
        "queryByDistance": ftype == "address",
        "referenceTargetField": None,
        "referenceTo": list(fdef.reference_to),
        "relationshipName": fdef.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": fdef.restricted,
        "scale": fdef.scale,
        "searchPrefilterable": ftype == "reference",
        "soapType": _SOAP.get(ftype, "xsd:string"),
        "sortable": ftype not in {"textarea", "address"},
        "type": ftype,
        "unique": fdef.unique,
        "updateable": fdef.updateable,
        "writeRequiresMasterRead": False,
    }


def describe(obj: ObjectDef, version: str, base_url: str = "") -> dict[str, Any]:
    flags = _object_flags(obj)
    return {
        "actionOverrides": [],
        **{k: v for k, v in flags.items() if k not in {"label", "labelPlural", "keyPrefix", "name"}},
        "childRelationships": [
            {
                "cascadeDelete": child in {"Contact", "Opportunity", "OpportunityContactRole"},
                "childSObject": child,
                "deprecatedAndHidden": False,
                "field": field,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": rel,
                "restrictedDelete": False,
            }
            for child, field, rel in obj.children
        ],
        "compactLayoutable": True,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(f) for f in obj.fields.values()],
        "implementedBy": None,
        "implementsInterfaces": None,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "listviewable": None,
        "lookupLayoutable": None,
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {"layout": f"/services/data/{version}/sobjects/{obj.name}/describe/layouts/012000000000000AAA"},
            }
        ],
        "searchLayoutable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All records", "name": "everything"}, {"label": "My records", "name": "mine"}],
        "urls": {
            **urls(obj, version),
            "uiDetailTemplate": f"{base_url}/{{ID}}",
            "uiEditTemplate": f"{base_url}/{{ID}}/e",
            "uiNewRecord": f"{base_url}/{obj.key_prefix}/e",
        },
    }
