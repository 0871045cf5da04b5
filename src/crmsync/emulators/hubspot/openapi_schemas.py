"""Component schemas of the emulator's OpenAPI document, plus the small builders the path modules share."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.hubspot.schema import FIELD_TYPES, OBJECT_TYPES, PROPERTY_TYPES
from crmsync.emulators.hubspot.search import MAX_FILTERS_PER_GROUP, MAX_GROUPS, MAX_QUERY_LENGTH, OPERATORS

Schema = dict[str, Any]

# Plural names, singular names and type ids all address an object type (case-insensitively).
OBJECT_TYPE_NAMES = [alias for ot in OBJECT_TYPES for alias in (ot.name, ot.singular, ot.type_id)]
STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
STRING_LIST: Schema = {"type": "array", "items": STRING}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """An object schema; unknown keys stay allowed, as HubSpot adds fields to its responses over time."""
    schema: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def json_body(schema: Schema, example: Any | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {"required": True, "content": {"application/json": content}}


def json_reply(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


NO_CONTENT = {"description": "Done; no body"}
_ERRORS = {
    400: "Invalid input (HubSpot's VALIDATION_ERROR envelope)",
    401: "Missing, unknown or expired bearer token",
    404: "No such object, property, pipeline or route",
    405: "The path exists but not for this method",
    409: "A unique value (contact email, unique property) is already taken",
}


def error_responses(*extra: int) -> dict[str, Any]:
    """400, 401 and 429 apply to every authenticated call; callers add the statuses their route adds."""
    found: dict[str, Any] = {}
    for status in sorted({400, 401, *extra}):
        found[str(status)] = json_reply(_ERRORS[status], ref("Error"))
    found["429"] = json_reply(
        "A rate limit (ten-second, secondly for search, or daily) was reached", ref("RateLimitError")
    )
    return found


def _error_schemas() -> dict[str, Schema]:
    context = {"type": "object", "additionalProperties": STRING_LIST}
    detail = obj(
        {"message": STRING, "code": STRING, "subCategory": STRING, "in": STRING, "context": context},
        ("message",),
    )
    return {
        "ErrorDetail": detail,
        "Error": obj(
            {
                "status": {"const": "error"},
                "message": STRING,
                "correlationId": {"type": "string", "format": "uuid"},
                "category": STRING,
                "subCategory": STRING,
                "context": context,
                "errors": array(ref("ErrorDetail")),
                "links": {"type": "object", "additionalProperties": STRING},
            },
            ("status", "message", "correlationId"),
        ),
        "RateLimitError": obj(
            {
                "status": {"const": "error"},
                "message": STRING,
                "errorType": {"const": "RATE_LIMIT"},
                "correlationId": {"type": "string", "format": "uuid"},
                "policyName": {"enum": ["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]},
            },
            ("status", "message", "errorType", "correlationId", "policyName"),
        ),
        "StandardError": obj(
            {
                "status": STRING,
                "id": STRING,
                "category": STRING,
                "subCategory": STRING,
                "message": STRING,
                "errors": array(ref("ErrorDetail")),
                "context": context,
                "links": {"type": "object", "additionalProperties": STRING},
            },
            ("status", "category", "message", "errors", "context", "links"),
        ),
        "OAuthError": obj(
            {"status": STRING, "message": STRING, "correlationId": STRING, "requestId": STRING},
            ("status", "message", "correlationId"),
        ),
    }


def _record_schemas() -> dict[str, Schema]:
    history_entry = obj(
        {"value": STRING, "timestamp": DATE_TIME, "sourceType": STRING, "sourceId": STRING},
        ("value", "timestamp", "sourceType"),
    )
    association_result = obj({"id": STRING, "type": STRING}, ("id", "type"))
    associations = obj({"results": array(association_result), "paging": ref("Paging")}, ("results",))
    record = obj(
        {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "properties": {"type": "object", "additionalProperties": NULLABLE_STRING},
            "propertiesWithHistory": {"type": "object", "additionalProperties": array(history_entry)},
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "archived": {"type": "boolean"},
            "archivedAt": DATE_TIME,
            "url": STRING,
            "associations": {"type": "object", "additionalProperties": associations},
            "objectWriteTraceId": STRING,
        },
        ("id", "properties", "createdAt", "updatedAt", "archived"),
    )
    upserted = {"allOf": [ref("SimplePublicObject"), obj({"new": {"type": "boolean"}}, ("new",))]}
    paging = obj(
        {"next": obj({"after": STRING, "link": NULLABLE_STRING}, ("after",))},
        ("next",),
    )
    return {
        "ValueWithTimestamp": history_entry,
        "SimplePublicObject": record,
        "SimplePublicUpsertObject": upserted,
        "Paging": paging,
        "CollectionResponseSimplePublicObject": obj(
            {"results": array(ref("SimplePublicObject")), "paging": ref("Paging")}, ("results",)
        ),
        "CollectionResponseWithTotalSimplePublicObject": obj(
            {
                "total": {"type": "integer", "minimum": 0},
                "results": array(ref("SimplePublicObject")),
                "paging": ref("Paging"),
            },
            ("total", "results"),
        ),
    }


def batch_response(result: Schema) -> Schema:
    """`status`/`results`/timing of every batch answer; `errors` and `numErrors` only on a 207."""
    return obj(
        {
            "status": {"enum": ["PENDING", "PROCESSING", "CANCELED", "COMPLETE"]},
            "results": array(result),
            "numErrors": {"type": "integer", "minimum": 1},
            "errors": array(ref("StandardError"), minItems=1),
            "requestedAt": DATE_TIME,
            "startedAt": DATE_TIME,
            "completedAt": DATE_TIME,
            "links": {"type": "object", "additionalProperties": STRING},
        },
        ("status", "results", "startedAt", "completedAt"),
    )


def _input_schemas() -> dict[str, Schema]:
    spec = obj(
        {
            "associationCategory": {"enum": ["HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"]},
            "associationTypeId": {"type": "integer"},
        },
        ("associationCategory", "associationTypeId"),
    )
    properties = {"type": "object", "additionalProperties": STRING}
    create_association = obj(
        {"to": obj({"id": STRING}, ("id",)), "types": array(ref("AssociationSpec"), minItems=1)}, ("to", "types")
    )
    return {
        "AssociationSpec": spec,
        "PropertyValues": properties,
        "SimplePublicObjectInputForCreate": obj(
            {"properties": ref("PropertyValues"), "associations": array(create_association)},
            ("properties",),
        ),
        "SimplePublicObjectInput": obj({"properties": ref("PropertyValues")}, ("properties",)),
        "Filter": obj(
            {
                "propertyName": STRING,
                "operator": {"enum": sorted(OPERATORS)},
                "value": STRING,
                "highValue": STRING,
                "values": STRING_LIST,
            },
            ("propertyName", "operator"),
        ),
        "PublicObjectSearchRequest": obj(
            {
                "filterGroups": array(
                    obj({"filters": array(ref("Filter"), maxItems=MAX_FILTERS_PER_GROUP)}, ("filters",)),
                    maxItems=MAX_GROUPS,
                ),
                "sorts": array(
                    {
                        "oneOf": [
                            STRING,
                            obj(
                                {"propertyName": STRING, "direction": {"enum": ["ASCENDING", "DESCENDING"]}},
                                ("propertyName",),
                            ),
                        ]
                    },
                    maxItems=1,
                ),
                "query": {"type": "string", "maxLength": MAX_QUERY_LENGTH},
                "properties": STRING_LIST,
                "limit": {"type": "integer", "minimum": 0, "maximum": 200},
                "after": STRING,
            }
        ),
    }


def _metadata_schemas() -> dict[str, Schema]:
    option = obj(
        {"label": STRING, "value": STRING, "displayOrder": {"type": "integer"}, "hidden": {"type": "boolean"}},
        ("label", "value"),
    )
    prop = obj(
        {
            "name": STRING,
            "label": STRING,
            "type": STRING,
            "fieldType": STRING,
            "description": STRING,
            "groupName": STRING,
            "options": array(option),
            "displayOrder": {"type": "integer"},
            "calculated": {"type": "boolean"},
            "externalOptions": {"type": "boolean"},
            "hasUniqueValue": {"type": "boolean"},
            "hidden": {"type": "boolean"},
            "hubspotDefined": {"type": "boolean"},
            "archived": {"type": "boolean"},
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "createdUserId": STRING,
            "updatedUserId": STRING,
            "referencedObjectType": STRING,
            "showCurrencySymbol": {"type": "boolean"},
            "formField": {"type": "boolean"},
            "dataSensitivity": STRING,
            "modificationMetadata": obj(
                {
                    "archivable": {"type": "boolean"},
                    "readOnlyDefinition": {"type": "boolean"},
                    "readOnlyValue": {"type": "boolean"},
                },
                ("archivable", "readOnlyDefinition", "readOnlyValue"),
            ),
        },
        ("name", "label", "type", "fieldType", "description", "groupName", "options"),
    )
    create = obj(
        {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,99}$"},
            "label": {"type": "string", "minLength": 1},
            "type": {"enum": list(PROPERTY_TYPES)},
            "fieldType": {"enum": list(FIELD_TYPES)},
            "groupName": {"type": "string", "minLength": 1},
            "description": STRING,
            "options": array(
                obj({"label": STRING, "value": STRING, "displayOrder": {"type": "integer"}}, ("label", "value"))
            ),
            "displayOrder": {"type": "integer"},
            "hasUniqueValue": {"type": "boolean"},
            "formField": {"type": "boolean"},
        },
        ("name", "label", "type", "fieldType", "groupName"),
    )
    stage = obj(
        {
            "id": STRING,
            "label": STRING,
            "displayOrder": {"type": "integer"},
            "metadata": {"type": "object", "additionalProperties": STRING},
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "writePermissions": STRING,
            "archived": {"type": "boolean"},
        },
        ("id", "label", "displayOrder", "metadata", "createdAt", "updatedAt", "archived"),
    )
    pipeline = obj(
        {
            "id": STRING,
            "label": STRING,
            "displayOrder": {"type": "integer"},
            "stages": array(ref("PipelineStage")),
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "archived": {"type": "boolean"},
        },
        ("id", "label", "displayOrder", "stages", "createdAt", "updatedAt", "archived"),
    )
    owner = obj(
        {
            "id": STRING,
            "email": STRING,
            "type": {"enum": ["PERSON", "QUEUE"]},
            "firstName": STRING,
            "lastName": STRING,
            "userId": {"type": "integer"},
            "userIdIncludingInactive": {"type": "integer"},
            "createdAt": DATE_TIME,
            "updatedAt": DATE_TIME,
            "archived": {"type": "boolean"},
        },
        ("id", "type", "createdAt", "updatedAt", "archived"),
    )
    return {
        "PropertyOption": option,
        "Property": prop,
        "PropertyCreate": create,
        "PipelineStage": stage,
        "Pipeline": pipeline,
        "PublicOwner": owner,
    }


def component_schemas() -> dict[str, Schema]:
    return {**_error_schemas(), **_record_schemas(), **_input_schemas(), **_metadata_schemas()}
