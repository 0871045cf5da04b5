"""Reusable pieces of the OpenAPI document: component schemas, parameters, responses and small builders."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
STRING_LIST: Schema = {"type": "array", "items": STRING}
ID18: Schema = {"type": "string", "pattern": "^[a-zA-Z0-9]{18}$", "description": "an 18-character record id"}
# `2026-05-01T07:25:37.000+0000`: UTC, milliseconds, `+0000` (not `Z`), as every REST response renders it.
SF_DATETIME: Schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$"}
MAX_COLLECTION = 200
MAX_RETRIEVE = 2000
MAX_SUBREQUESTS = 25


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = True) -> Schema:
    """An object schema; `closed` objects allow no keys beyond the listed ones (the emulator's shape is fixed)."""
    schema: Schema = {"type": "object", "properties": properties, "required": required or list(properties)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def json_reply(description: str, schema: Schema, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        reply["headers"] = headers
    return reply


def json_body(schema: Schema, example: Any = None, *, required: bool = True) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": required, "content": {"application/json": media}}


def error_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def api_errors(*statuses: int) -> dict[str, Any]:
    """The error answers every versioned REST call can give, plus the given operation-specific ones."""
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
    out = {"401": error_ref("Unauthorized"), "403": error_ref("Forbidden"), "404": error_ref("NotFound")}
    for status in statuses:
        out[str(status)] = error_ref(names[status])
    return out


NO_CONTENT: dict[str, Any] = {"description": "done; no body"}
MULTIPLE_CHOICES: dict[str, Any] = json_reply(
    "several records carry this external id: the URLs of each", {"$ref": "#/components/schemas/MultipleChoices"}
)


def path_param(name: str, schema: Schema, description: str, example: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "path", "required": True, "description": description, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def query_param(
    name: str, schema: Schema, description: str, *, required: bool = False, example: Any = None
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }
    if example is not None:
        param["example"] = example
    return param


def param_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def version_pattern(low: float, high: float) -> str:
    """`vNN.N` for every version in [low, high], as `check_version` accepts them (one decimal digit)."""
    lo, hi = round(low * 10), round(high * 10)
    alternatives: list[str] = []
    for major in range(10, 100):
        digits = [d for d in range(10) if lo <= major * 10 + d <= hi]
        if not digits:
            continue
        if len(digits) == 1:
            alternatives.append(f"{major}\\.{digits[0]}")
        else:
            alternatives.append(f"{major}\\.[{digits[0]}-{digits[-1]}]")
    return "^v(" + "|".join(alternatives) + ")$"


def component_parameters(object_names: list[str], low: float, high: float) -> dict[str, Any]:
    return {
        "Version": path_param(
            "version",
            {"type": "string", "pattern": version_pattern(low, high)},
            f"API version `vNN.N` between v{low:.1f} and v{high:.1f}; any other version answers 404 NOT_FOUND",
            f"v{min(max(60.0, low), high):.1f}",
        ),
        "SObject": path_param(
            "sobject",
            {"type": "string", "enum": object_names},
            "sObject API name (matched case-insensitively); an unknown object answers 404 NOT_FOUND",
            "Account",
        ),
        "RecordId": path_param(
            "record_id",
            {"type": "string", "pattern": "^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$"},
            "15- or 18-character record id; an id of another object answers 400 MALFORMED_ID, an unknown "
            "or deleted one 404",
        ),
        "ExternalIdField": path_param(
            "field",
            {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
            "an idLookup or externalId field of the object (`Id`, `Email` on Contact, custom `X__c` external ids); "
            "any other field answers 404 NOT_FOUND",
            "Id",
        ),
        "ExternalIdValue": path_param("value", STRING, "the external id value (URL-encoded)"),
        "Fields": query_param(
            "fields",
            {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*(,[A-Za-z][A-Za-z0-9_]*)*$"},
            "comma-separated field names to return (all fields when absent); unknown names answer 400 INVALID_FIELD",
            example="Id,Name",
        ),
    }


def component_responses() -> dict[str, Any]:
    errors = {"$ref": "#/components/schemas/ErrorList"}
    return {
        "BadRequest": json_reply("invalid request (see errorCode)", errors),
        "Unauthorized": json_reply("missing, invalid or expired session: INVALID_SESSION_ID", errors),
        "Forbidden": json_reply("daily API request limit exhausted: REQUEST_LIMIT_EXCEEDED", errors),
        "NotFound": json_reply("unknown API version, object, record or external id field: NOT_FOUND", errors),
    }


def _field_value() -> Schema:
    return {
        "description": "a field value (string, number, boolean or null), or for a relationship name an object "
        'naming one external id field of the parent (`{"Ext__c": "A-1"}`)',
        "type": ["string", "number", "boolean", "null", "object"],
    }


def _record_schemas() -> dict[str, Schema]:
    attributes = obj({"type": STRING, "url": STRING})
    return {
        "Attributes": attributes,
        "SObjectRecord": {
            "type": "object",
            "description": "a record: `attributes` then the requested fields; parent relationships are nested "
            "records (with their own `attributes`) or null; compound addresses are objects",
            "properties": {"attributes": ref("Attributes"), "Id": STRING},
            "required": ["attributes"],
        },
        "SObjectInput": {
            "type": "object",
            "description": "field values to write; unknown fields answer INVALID_FIELD, read-only ones "
            "INVALID_FIELD_FOR_INSERT_UPDATE, wrong value types JSON_PARSER_ERROR",
            "properties": {"attributes": {"type": "object", "properties": {"type": STRING}}},
            "additionalProperties": _field_value(),
        },
        "TypedSObjectInput": {
            "type": "object",
            "description": "a record of an sObject collection: `attributes.type` names its object",
            "properties": {
                "attributes": {"type": "object", "properties": {"type": STRING}, "required": ["type"]},
                "Id": STRING,
            },
            "required": ["attributes"],
            "additionalProperties": _field_value(),
        },
        "SaveResult": obj({"id": ID18, "success": {"const": True}, "errors": array(STRING, maxItems=0)}),
        "UpsertResult": obj(
            {"id": ID18, "success": {"const": True}, "errors": array(STRING, maxItems=0), "created": BOOLEAN}
        ),
        "MultipleChoices": array(STRING, minItems=2),
        "QueryResult": obj(
            {
                "totalSize": {"type": "integer", "minimum": 0},
                "done": BOOLEAN,
                "nextRecordsUrl": {
                    "type": "string",
                    "pattern": r"^/services/data/v\d+\.\d/(query|queryAll)/[A-Za-z0-9]+-\d+$",
                },
                "records": array(ref("SObjectRecord")),
            },
            ["totalSize", "done", "records"],
        ),
        "UpdatedResult": obj({"ids": array(ID18), "latestDateCovered": SF_DATETIME}),
        "DeletedResult": obj(
            {
                "deletedRecords": array(obj({"id": ID18, "deletedDate": SF_DATETIME})),
                "earliestDateAvailable": SF_DATETIME,
                "latestDateCovered": SF_DATETIME,
            }
        ),
    }


def _error_schemas() -> dict[str, Schema]:
    return {
        "Error": obj({"message": STRING, "errorCode": STRING, "fields": STRING_LIST}, ["message", "errorCode"]),
        "ErrorList": array(ref("Error"), minItems=1),
        "OAuthError": obj({"error": STRING, "error_description": STRING}),
        "CollectionError": obj({"statusCode": STRING, "message": STRING, "fields": STRING_LIST}),
        "CollectionResult": obj(
            {
                "id": ID18,
                "success": BOOLEAN,
                "errors": array(ref("CollectionError")),
                "created": BOOLEAN,
            },
            ["success", "errors"],
        ),
    }


def _composite_schemas() -> dict[str, Schema]:
    return {
        "CollectionRequest": obj(
            {"allOrNone": BOOLEAN, "records": array(ref("TypedSObjectInput"), maxItems=MAX_COLLECTION)},
            ["records"],
        ),
        "RetrieveRequest": obj(
            {"ids": array(STRING, minItems=1, maxItems=MAX_RETRIEVE), "fields": array(STRING, minItems=1)}
        ),
        "RetrieveResult": array({"anyOf": [ref("SObjectRecord"), {"type": "null"}]}),
        "CompositeRequest": obj(
            {
                "allOrNone": BOOLEAN,
                "compositeRequest": array(
                    obj(
                        {
                            "method": {"type": "string", "enum": ["GET", "POST", "PATCH", "PUT", "DELETE"]},
                            "url": {"type": "string", "pattern": "^/services/data/"},
                            "referenceId": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
                            "body": {},
                            "httpHeaders": {"type": "object", "additionalProperties": STRING},
                        },
                        ["method", "url", "referenceId"],
                    ),
                    maxItems=MAX_SUBREQUESTS,
                ),
            },
            ["compositeRequest"],
        ),
        "CompositeResponse": obj(
            {
                "compositeResponse": array(
                    obj(
                        {
                            "body": {"description": "the subrequest's own response body (null when it has none)"},
                            "httpHeaders": {"type": "object", "additionalProperties": STRING},
                            "httpStatusCode": {"type": "integer", "minimum": 200, "maximum": 599},
                            "referenceId": NULLABLE_STRING,
                        }
                    )
                )
            }
        ),
    }


def component_schemas() -> dict[str, Schema]:
    return {**_error_schemas(), **_record_schemas(), **_composite_schemas()}
