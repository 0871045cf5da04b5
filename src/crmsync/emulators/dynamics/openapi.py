"""The hand-written OpenAPI 3.1 document of the emulated Dataverse subset (served for schemathesis).

Entity-set operations are generated from the same table definitions the emulator serves, so the
document and the behaviour cannot drift apart. `$batch` (multipart) is described in COVERAGE.md only.
"""

from __future__ import annotations

from typing import Any

from crmsync.emulators.dynamics.schema import Column, Table
from crmsync.emulators.dynamics.state import DataverseState

API = "/api/data/v9.2"
DATA_TABLES = ("account", "contact", "opportunity", "task", "phonecall", "appointment", "annotation")
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "Edm.String": {"type": ["string", "null"]},
    "Edm.Int32": {"type": ["integer", "null"]},
    "Edm.Int64": {"type": ["integer", "null"]},
    "Edm.Decimal": {"type": ["number", "null"]},
    "Edm.Double": {"type": ["number", "null"]},
    "Edm.Boolean": {"type": ["boolean", "null"]},
    "Edm.DateTimeOffset": {"type": ["string", "null"]},
    "Edm.Date": {"type": ["string", "null"]},
    "Edm.Guid": {"type": ["string", "null"]},
}
ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad request (query, payload or validation error)",
        401: "Missing, invalid or expired token",
        404: "No such record, entity set or segment",
        405: "Method not allowed",
        412: "Precondition failed (duplicate key or version mismatch)",
        429: "Service protection limit",
    }
    return {str(status): _json(ERROR, text[status]) for status in statuses}


def _write_schema(column: Column) -> dict[str, Any]:
    schema = dict(_JSON_TYPES[column.edm_type])
    if column.max_length is not None and column.type in ("String", "Memo"):
        schema["maxLength"] = column.max_length
    if column.options:
        schema["enum"] = [*column.options, None]
    if column.min_value is not None and column.max_value is not None:
        schema["minimum"] = column.min_value
        schema["maximum"] = column.max_value
    if column.type == "DateTime":
        schema["format"] = "date-time"
    if column.type == "DateOnly":
        schema["format"] = "date"
    return schema


def _row_schema(table: Table) -> dict[str, Any]:
    properties: dict[str, Any] = {"@odata.etag": {"type": "string"}}
    for column in table.columns.values():
        properties[column.property_name] = dict(_JSON_TYPES[column.edm_type])
    return {"type": "object", "properties": properties, "required": ["@odata.etag", table.primary_id]}


def _create_schema(table: Table) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for column in table.columns.values():
        if not column.create or column.is_lookup or column.source != 0 or column.type == "State":
            continue
        properties[column.name] = _write_schema(column)
        if column.required in ("ApplicationRequired", "SystemRequired"):
            properties[column.name] = {**properties[column.name], "type": properties[column.name]["type"][0]}
            if column.type in ("String", "Memo"):
                properties[column.name]["minLength"] = 1
            required.append(column.name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _query_parameters(*names: str) -> list[dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {
        "$select": {"type": "string"},
        "$filter": {"type": "string"},
        "$orderby": {"type": "string"},
        "$top": {"type": "integer", "minimum": 0},
        "$count": {"type": "string", "enum": ["true", "false"]},
        "$expand": {"type": "string"},
        "$skiptoken": {"type": "string"},
        "$deltatoken": {"type": "string"},
    }
    return [{"name": n, "in": "query", "required": False, "schema": schemas[n]} for n in names]


PREFER = {"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}}
IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}


def _table_paths(table: Table) -> dict[str, Any]:
    name = table.schema_name
    row = {"$ref": f"#/components/schemas/{name}"}
    entity = {"allOf": [row, {"type": "object", "properties": {"@odata.context": {"type": "string"}}}]}
    listing = {
        "type": "object",
        "required": ["@odata.context", "value"],
        "properties": {
            "@odata.context": {"type": "string"},
            "@odata.count": {"type": "integer"},
            "@odata.nextLink": {"type": "string"},
            "@odata.deltaLink": {"type": "string"},
            "value": {"type": "array", "items": {"type": "object"}},
        },
    }
    key = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    body = {"required": True, "content": {"application/json": {"schema": _create_schema(table)}}}
    collection = f"{API}/{table.entity_set}"
    single = f"{collection}({{id}})"
    return {
        collection: {
            "get": {
                "operationId": f"list{name}",
                "parameters": [
                    *_query_parameters("$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"),
                    PREFER,
                ],
                "responses": {"200": _json(listing, "A page of rows"), **_errors(400, 401, 404, 429)},
            },
            "post": {
                "operationId": f"create{name}",
                "parameters": [PREFER],
                "requestBody": body,
                "responses": {
                    "201": _json(entity, "Created (return=representation)"),
                    "204": {"description": "Created; OData-EntityId names the row"},
                    **_errors(400, 401, 404, 412, 429),
                },
            },
        },
        f"{collection}/$count": {
            "get": {
                "operationId": f"count{name}",
                "parameters": _query_parameters("$filter"),
                "responses": {
                    "200": {"description": "The count", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    **_errors(400, 401, 429),
                },
            }
        },
        single: {
            "parameters": [key],
            "get": {
                "operationId": f"get{name}",
                "parameters": [*_query_parameters("$select"), IF_NONE_MATCH, PREFER],
                "responses": {
                    "200": _json(entity, "The row"),
                    "304": {"description": "Not modified"},
                    **_errors(400, 401, 404, 429),
                },
            },
            "patch": {
                "operationId": f"upsert{name}",
                "parameters": [IF_MATCH, IF_NONE_MATCH, PREFER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {**_create_schema(table), "required": []}}},
                },
                "responses": {
                    "200": _json(entity, "Updated (return=representation)"),
                    "201": _json(entity, "Inserted (return=representation)"),
                    "204": {"description": "Updated or inserted"},
                    **_errors(400, 401, 404, 412, 429),
                },
            },
            "delete": {
                "operationId": f"delete{name}",
                "parameters": [IF_MATCH],
                "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 404, 412, 429)},
            },
        },
    }


def _fixed_paths(tenant: str) -> dict[str, Any]:
    token_form = {
        "type": "object",
        "required": ["grant_type", "client_id", "client_secret", "scope"],
        "properties": {
            "grant_type": {"type": "string"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
            "scope": {"type": "string"},
        },
    }
    entra_error = {
        "type": "object",
        "required": ["error", "error_description", "error_codes"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
            "error_codes": {"type": "array", "items": {"type": "integer"}},
        },
    }
    token = {
        "type": "object",
        "required": ["token_type", "expires_in", "ext_expires_in", "access_token"],
        "properties": {
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
            "ext_expires_in": {"type": "integer"},
            "access_token": {"type": "string"},
        },
    }
    tenant_param = {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string", "example": tenant}}
    no_body_action = {
        "type": "object",
        "properties": {"Status": {"type": "integer"}, "OpportunityClose": {"type": "object"}},
    }
    return {
        "/{tenant}/oauth2/v2.0/token": {
            "post": {
                "operationId": "tokenV2",
                "parameters": [tenant_param],
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": token_form}},
                },
                "responses": {
                    "200": _json(token, "Access token"),
                    "400": _json(entra_error, "Bad request"),
                    "401": _json(entra_error, "Bad client credentials"),
                },
            }
        },
        "/{tenant}/v2.0/.well-known/openid-configuration": {
            "get": {
                "operationId": "openidConfiguration",
                "parameters": [tenant_param],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["token_endpoint", "issuer", "authorization_endpoint"]},
                        "OIDC discovery",
                    ),
                    "400": _json(entra_error, "Unknown tenant"),
                },
            }
        },
        f"{API}/EntityDefinitions": {
            "get": {
                "operationId": "listEntityDefinitions",
                "parameters": _query_parameters("$select", "$filter"),
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["value"], "properties": {"value": {"type": "array"}}},
                        "Table definitions",
                    ),
                    **_errors(400, 401, 429),
                },
            }
        },
        f"{API}/WhoAmI": {
            "get": {
                "operationId": "whoAmI",
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["UserId", "BusinessUnitId", "OrganizationId"]}, "The caller"
                    ),
                    **_errors(401, 429),
                },
            }
        },
        f"{API}/WinOpportunity": {
            "post": {
                "operationId": "winOpportunity",
                "requestBody": {"required": True, "content": {"application/json": {"schema": no_body_action}}},
                "responses": {"204": {"description": "Closed as won"}, **_errors(400, 401, 404, 429)},
            }
        },
        f"{API}/Merge": {
            "post": {
                "operationId": "merge",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "Target": {"type": "object"},
                                    "Subordinate": {"type": "object"},
                                    "UpdateContent": {"type": "object"},
                                    "PerformParentingChecks": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {"204": {"description": "Merged"}, **_errors(400, 401, 404, 429)},
            }
        },
        f"{API}/$metadata": {
            "get": {
                "operationId": "csdl",
                "responses": {
                    "200": {"description": "CSDL", "content": {"application/xml": {"schema": {"type": "string"}}}},
                    **_errors(401, 429),
                },
            }
        },
    }


def openapi_document(state: DataverseState) -> dict[str, Any]:
    tables = [state.tables[name] for name in DATA_TABLES]
    paths: dict[str, Any] = _fixed_paths(state.config.tenant_id)
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
    }
    for table in tables:
        paths.update(_table_paths(table))
        schemas[table.schema_name] = _row_schema(table)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crmsync Dataverse Web API v9.2 emulator",
            "version": "9.2",
            "description": "The emulated subset of the Microsoft Dataverse Web API (OData v4), with Entra-style auth.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
