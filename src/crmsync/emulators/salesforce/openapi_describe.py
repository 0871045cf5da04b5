"""OpenAPI schemas of the metadata documents: token, versions, limits, describe global, basic info, describe."""

from __future__ import annotations

from crmsync.emulators.salesforce.openapi_schemas import (
    BOOLEAN,
    INTEGER,
    NULLABLE_STRING,
    STRING,
    STRING_LIST,
    Schema,
    array,
    obj,
    ref,
)

FIELD_TYPES = [
    "id", "boolean", "reference", "string", "textarea", "picklist", "multipicklist", "combobox", "phone", "url",
    "email", "currency", "int", "double", "percent", "date", "datetime", "address",
]  # fmt: skip
_URL_MAP: Schema = {"type": "object", "additionalProperties": STRING}
_OBJECT_FLAGS = (
    "activateable createable custom customSetting deepCloneable deletable deprecatedAndHidden feedEnabled "
    "hasSubtypes isInterface isSubtype layoutable mergeable mruEnabled queryable replicateable retrieveable "
    "searchable triggerable undeletable updateable"
).split()
_FIELD_FLAGS = (
    "aggregatable aiPredictionField autoNumber calculated cascadeDelete caseSensitive createable custom "
    "defaultedOnCreate dependentPicklist deprecatedAndHidden displayLocationInDecimal encrypted externalId "
    "filterable formulaTreatNullNumberAsZero groupable highScaleNumber htmlFormatted idLookup nameField "
    "namePointing nillable permissionable polymorphicForeignKey queryByDistance restrictedDelete "
    "restrictedPicklist searchPrefilterable sortable unique updateable writeRequiresMasterRead"
).split()


def _token_schemas() -> dict[str, Schema]:
    return {
        "TokenResponse": obj(
            {
                "access_token": STRING,
                "signature": STRING,
                "scope": STRING,
                "instance_url": {"type": "string", "pattern": "^https?://"},
                "id": {"type": "string", "pattern": "^https?://.+/id/[a-zA-Z0-9]{18}/[a-zA-Z0-9]{18}$"},
                "token_type": {"const": "Bearer"},
                "issued_at": {"type": "string", "pattern": "^[0-9]+$"},
                "token_format": {"const": "opaque"},
            },
            ["access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"],
        ),
        "TokenRequest": {
            "type": "object",
            "description": "client_credentials (client_id/client_secret here or as HTTP Basic) or the JWT bearer "
            "grant (an RS256 assertion with iss = consumer key, sub = username, aud = login URL, exp)",
            "properties": {
                "grant_type": {
                    "type": "string",
                    "enum": ["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
                },
                "client_id": STRING,
                "client_secret": STRING,
                "assertion": STRING,
            },
            "required": ["grant_type"],
        },
    }


def _limit() -> Schema:
    return {
        "type": "object",
        "properties": {"Max": INTEGER, "Remaining": INTEGER},
        "required": ["Max", "Remaining"],
        "additionalProperties": ref("Limit"),
    }


def _sobject_summary() -> Schema:
    props: dict[str, Schema] = dict.fromkeys(_OBJECT_FLAGS, BOOLEAN)
    props |= {
        "associateEntityType": NULLABLE_STRING,
        "associateParentEntity": NULLABLE_STRING,
        "keyPrefix": NULLABLE_STRING,
        "label": STRING,
        "labelPlural": STRING,
        "name": STRING,
        "urls": _URL_MAP,
    }
    return obj(props)


def _field_describe() -> Schema:
    props: dict[str, Schema] = dict.fromkeys(_FIELD_FLAGS, BOOLEAN)
    nullable = (
        "calculatedFormula compoundFieldName controllerName defaultValueFormula extraTypeInfo inlineHelpText mask "
        "maskType referenceTargetField relationshipName"
    ).split()
    props |= dict.fromkeys(nullable, NULLABLE_STRING)
    props |= {
        "byteLength": INTEGER,
        "defaultValue": {"type": ["string", "boolean", "number", "null"]},
        "digits": INTEGER,
        "filteredLookupInfo": {"type": ["object", "null"]},
        "label": STRING,
        "length": INTEGER,
        "name": STRING,
        "picklistValues": array(
            obj(
                {
                    "active": BOOLEAN,
                    "defaultValue": BOOLEAN,
                    "label": STRING,
                    "validFor": NULLABLE_STRING,
                    "value": STRING,
                }
            )
        ),
        "precision": INTEGER,
        "referenceTo": STRING_LIST,
        "relationshipOrder": {"type": ["integer", "null"]},
        "scale": INTEGER,
        "soapType": STRING,
        "type": {"type": "string", "enum": FIELD_TYPES},
    }
    return obj(props)


def _describe() -> Schema:
    props: dict[str, Schema] = dict.fromkeys(_OBJECT_FLAGS, BOOLEAN)
    props |= {
        "actionOverrides": array({"type": "object"}),
        "associateEntityType": NULLABLE_STRING,
        "associateParentEntity": NULLABLE_STRING,
        "childRelationships": array(
            obj(
                {
                    "cascadeDelete": BOOLEAN,
                    "childSObject": STRING,
                    "deprecatedAndHidden": BOOLEAN,
                    "field": STRING,
                    "junctionIdListNames": STRING_LIST,
                    "junctionReferenceTo": STRING_LIST,
                    "relationshipName": NULLABLE_STRING,
                    "restrictedDelete": BOOLEAN,
                }
            )
        ),
        "compactLayoutable": BOOLEAN,
        "defaultImplementation": NULLABLE_STRING,
        "extendedBy": NULLABLE_STRING,
        "extendsInterfaces": NULLABLE_STRING,
        "fields": array(ref("FieldDescribe")),
        "implementedBy": NULLABLE_STRING,
        "implementsInterfaces": NULLABLE_STRING,
        "keyPrefix": NULLABLE_STRING,
        "label": STRING,
        "labelPlural": STRING,
        "listviewable": {"type": ["boolean", "null"]},
        "lookupLayoutable": {"type": ["boolean", "null"]},
        "name": STRING,
        "namedLayoutInfos": array({"type": "object"}),
        "networkScopeFieldName": NULLABLE_STRING,
        "recordTypeInfos": array(
            obj(
                {
                    "active": BOOLEAN,
                    "available": BOOLEAN,
                    "defaultRecordTypeMapping": BOOLEAN,
                    "developerName": STRING,
                    "master": BOOLEAN,
                    "name": STRING,
                    "recordTypeId": STRING,
                    "urls": _URL_MAP,
                }
            )
        ),
        "searchLayoutable": BOOLEAN,
        "sobjectDescribeOption": STRING,
        "supportedScopes": array(obj({"label": STRING, "name": STRING})),
        "urls": _URL_MAP,
    }
    return obj(props)


def describe_schemas() -> dict[str, Schema]:
    return {
        **_token_schemas(),
        "ApiVersion": obj(
            {"label": STRING, "url": {"type": "string", "pattern": r"^/services/data/v\d+\.\d$"}, "version": STRING}
        ),
        "Resources": {"type": "object", "additionalProperties": STRING, "required": ["sobjects", "query", "limits"]},
        "Limit": _limit(),
        "Limits": {"type": "object", "additionalProperties": ref("Limit"), "required": ["DailyApiRequests"]},
        "SObjectSummary": _sobject_summary(),
        "DescribeGlobal": obj({"encoding": STRING, "maxBatchSize": INTEGER, "sobjects": array(ref("SObjectSummary"))}),
        "BasicInfo": obj({"objectDescribe": ref("SObjectSummary"), "recentItems": array(ref("SObjectRecord"))}),
        "FieldDescribe": _field_describe(),
        "Describe": _describe(),
    }
