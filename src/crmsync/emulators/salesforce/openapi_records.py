"""OpenAPI paths of single-record calls (CRUD, by external id, updated/deleted) and SOQL queries."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.salesforce.openapi_meta import DATA, LIMIT_INFO, Paths
from crmsync.emulators.salesforce.openapi_schemas import (
    MULTIPLE_CHOICES,
    NO_CONTENT,
    api_errors,
    json_body,
    json_reply,
    param_ref,
    query_param,
    ref,
)

_WINDOW = "ISO-8601 date/time (`2026-05-01T00:00:00Z` or `+00:00`; a space stands for `+`), truncated to the minute"


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": op_id, "summary": summary, "responses": responses, **extra}


def _record(description: str) -> dict[str, Any]:
    return json_reply(description, ref("SObjectRecord"), LIMIT_INFO)


def _window_op(op_id: str, summary: str, days: int, result: str) -> dict[str, Any]:
    return _op(
        op_id,
        summary,
        {
            "200": json_reply("the window's records", ref(result), LIMIT_INFO),
            **api_errors(400),
        },
        parameters=[
            param_ref("Version"),
            param_ref("SObject"),
            query_param(
                "start",
                {"type": "string", "format": "date-time"},
                f"window start ({_WINDOW}); at most {days} days ago; missing → 400 MISSING_ARGUMENT, "
                "unparseable or out of range → 400 INVALID_REPLICATION_DATE",
                required=True,
                example="2030-01-01T00:00:00Z",
            ),
            query_param(
                "end",
                {"type": "string", "format": "date-time"},
                f"window end ({_WINDOW}); must follow start",
                required=True,
                example="2030-01-01T01:00:00Z",
            ),
        ],
    )


def record_paths() -> Paths:
    version, sobject = param_ref("Version"), param_ref("SObject")
    record_id, fields = param_ref("RecordId"), param_ref("Fields")
    ext = [version, sobject, param_ref("ExternalIdField"), param_ref("ExternalIdValue")]
    body = json_body(ref("SObjectInput"), {"Name": "Fuzzed Account"})
    upsert_result = ref("UpsertResult")
    sob = f"{DATA}/sobjects/{{sobject}}"
    return {
        sob: {
            "post": _op(
                "create",
                "Create a record (required fields, lengths, picklists, references and uniqueness are validated)",
                {"201": json_reply("created", ref("SaveResult"), LIMIT_INFO), **api_errors(400)},
                parameters=[version, sobject],
                requestBody=body,
            )
        },
        f"{sob}/updated": {
            "get": _window_op("get_updated", "Ids of records changed in a window (≤ 30 days back)", 30, "UpdatedResult")
        },
        f"{sob}/deleted": {
            "get": _window_op("get_deleted", "Records deleted in a window (≤ 15 days back)", 15, "DeletedResult")
        },
        f"{sob}/{{record_id}}": {
            "get": _op(
                "read",
                "Read a live record",
                {"200": _record("the record"), **api_errors(400)},
                parameters=[version, sobject, record_id, fields],
            ),
            "patch": _op(
                "update",
                "Update a record; deleted → 404 ENTITY_IS_DELETED",
                {"204": NO_CONTENT, **api_errors(400)},
                parameters=[version, sobject, record_id],
                requestBody=body,
            ),
            "delete": _op(
                "delete",
                "Delete a record (cascading to its dependent children)",
                {"204": NO_CONTENT, **api_errors(400)},
                parameters=[version, sobject, record_id],
            ),
        },
        f"{sob}/{{field}}/{{value}}": {
            "get": _op(
                "read_by_external_id",
                "Read a record by an idLookup/external id field",
                {"200": _record("the record"), "300": MULTIPLE_CHOICES, **api_errors(400)},
                parameters=[*ext, fields],
            ),
            "patch": _op(
                "upsert",
                "Upsert by external id: 201 created, 200 updated (204 before v46.0), 300 several matches",
                {
                    "200": json_reply("updated", upsert_result, LIMIT_INFO),
                    "201": json_reply("created", upsert_result, LIMIT_INFO),
                    "204": {"description": "updated (API versions before v46.0)"},
                    "300": MULTIPLE_CHOICES,
                    **api_errors(400),
                },
                parameters=[
                    *ext,
                    query_param(
                        "updateOnly",
                        {"type": "string", "enum": ["true", "false"]},
                        "true: never create; no match answers 404 NOT_FOUND",
                    ),
                ],
                requestBody=body,
            ),
            "delete": _op(
                "delete_by_external_id",
                "Delete the record an external id names",
                {"204": NO_CONTENT, "300": MULTIPLE_CHOICES, **api_errors(400)},
                parameters=ext,
            ),
        },
    }


def _query_op(op_id: str, summary: str) -> dict[str, Any]:
    return _op(
        op_id,
        summary,
        {"200": json_reply("the first page", ref("QueryResult"), LIMIT_INFO), **api_errors(400)},
        parameters=[
            param_ref("Version"),
            query_param(
                "q",
                {"type": "string"},
                "SOQL: SELECT fields (parent paths, COUNT()) FROM object [WHERE …] [ORDER BY …] [LIMIT n] "
                "[OFFSET n]; errors MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE",
                required=True,
                example="SELECT Id, Name FROM Account ORDER BY Name LIMIT 5",
            ),
            {
                "name": "Sforce-Query-Options",
                "in": "header",
                "required": False,
                "description": "`batchSize=N`: page size hint, clamped to 200–2,000 (default 2,000)",
                "schema": {"type": "string"},
                "example": "batchSize=200",
            },
        ],
    )


def _more_op(op_id: str) -> dict[str, Any]:
    return _op(
        op_id,
        "The next page of a query (the nextRecordsUrl); locators expire after 15 idle minutes",
        {"200": json_reply("the next page", ref("QueryResult"), LIMIT_INFO), **api_errors(400)},
        parameters=[
            param_ref("Version"),
            {
                "name": "locator",
                "in": "path",
                "required": True,
                "description": "`<locator>-<offset>`; unknown or expired → 400 INVALID_QUERY_LOCATOR",
                "schema": {"type": "string"},
                "example": "0r8dM0000000001AAA-2000",
            },
        ],
    )


def query_paths() -> Paths:
    return {
        f"{DATA}/query": {"get": _query_op("query", "Run a SOQL query over live records")},
        f"{DATA}/queryAll": {"get": _query_op("query_all", "Run a SOQL query including deleted and merged records")},
        f"{DATA}/query/{{locator}}": {"get": _more_op("query_more")},
        f"{DATA}/queryAll/{{locator}}": {"get": _more_op("query_all_more")},
    }
