"""OpenAPI paths of sObject Collections (create/update/upsert/delete/retrieve) and the Composite API."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.salesforce.openapi_meta import DATA, LIMIT_INFO, Paths
from crmsync.emulators.salesforce.openapi_schemas import (
    MAX_COLLECTION,
    MAX_RETRIEVE,
    api_errors,
    array,
    json_body,
    json_reply,
    param_ref,
    query_param,
    ref,
)

_ITEMS = (
    "per-item results in input order (HTTP 200 even when items fail); with allOrNone the valid items fail with "
    "ALL_OR_NONE_OPERATION_ROLLED_BACK"
)


def _results() -> dict[str, Any]:
    return json_reply(_ITEMS, array(ref("CollectionResult")), LIMIT_INFO)


def _collection_op(op_id: str, summary: str, example: dict[str, Any], *params: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "summary": summary,
        "parameters": [param_ref("Version"), *params],
        "requestBody": json_body(ref("CollectionRequest"), example),
        "responses": {"200": _results(), **api_errors(400)},
    }


def _retrieve(method: str) -> dict[str, Any]:
    params: list[dict[str, Any]] = [param_ref("Version"), param_ref("SObject")]
    extra: dict[str, Any] = {}
    if method == "get":
        params += [
            query_param(
                "ids",
                {"type": "string"},
                f"comma-separated record ids (at most {MAX_RETRIEVE}; missing → 400 MISSING_ARGUMENT)",
                required=True,
            ),
            query_param(
                "fields",
                {"type": "string"},
                "comma-separated field names (missing → 400 MISSING_ARGUMENT, unknown → 400 INVALID_FIELD)",
                required=True,
                example="Id,Name",
            ),
        ]
    else:
        extra["requestBody"] = json_body(ref("RetrieveRequest"), {"ids": ["001000000000001AAA"], "fields": ["Name"]})
    return {
        "operationId": f"collections_retrieve_{method}",
        "summary": "Retrieve records of one object by id; null for ids that name no live record",
        "parameters": params,
        **extra,
        "responses": {
            "200": json_reply("one entry per id, in order", ref("RetrieveResult"), LIMIT_INFO),
            **api_errors(400),
        },
    }


def composite_paths() -> Paths:
    base = f"{DATA}/composite/sobjects"
    create_example = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": "Fuzz Co"}]}
    upsert_example = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": "Fuzz Co"}]}
    ids_param = query_param(
        "ids",
        {"type": "string"},
        f"comma-separated record ids (at most {MAX_COLLECTION}; missing → 400 MISSING_ARGUMENT, more → "
        "400 EXCEEDED_ID_LIMIT)",
        required=True,
    )
    all_or_none = query_param(
        "allOrNone", {"type": "string", "enum": ["true", "false"]}, "roll back every item when one fails"
    )
    composite_example = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v60.0/sobjects/Account",
                "referenceId": "newAccount",
                "body": {"Name": "Composite Co"},
            },
            {
                "method": "GET",
                "url": "/services/data/v60.0/sobjects/Account/@{newAccount.id}",
                "referenceId": "readBack",
            },
        ],
    }
    return {
        base: {
            "post": _collection_op(
                "collections_create",
                f"Create up to {MAX_COLLECTION} records (each names its type in attributes; no Id)",
                create_example,
            ),
            "patch": _collection_op(
                "collections_update",
                f"Update up to {MAX_COLLECTION} records by Id",
                {"records": [{"attributes": {"type": "Account"}, "Id": "001000000000001AAA", "Name": "Renamed"}]},
            ),
            "delete": {
                "operationId": "collections_delete",
                "summary": f"Delete up to {MAX_COLLECTION} records of any objects",
                "parameters": [param_ref("Version"), ids_param, all_or_none],
                "responses": {"200": _results(), **api_errors(400)},
            },
        },
        f"{base}/{{sobject}}": {"get": _retrieve("get"), "post": _retrieve("post")},
        f"{base}/{{sobject}}/{{field}}": {
            "patch": _collection_op(
                "collections_upsert",
                f"Upsert up to {MAX_COLLECTION} records of one object by an external id field (items add `created`)",
                upsert_example,
                param_ref("SObject"),
                param_ref("ExternalIdField"),
            )
        },
        f"{DATA}/composite": {
            "post": {
                "operationId": "composite",
                "summary": "Up to 25 subrequests in one call; `@{ref.path}` reads earlier results; allOrNone "
                "halts and rolls back with PROCESSING_HALTED",
                "parameters": [param_ref("Version")],
                "requestBody": json_body(ref("CompositeRequest"), composite_example),
                "responses": {
                    "200": json_reply("one response per subrequest", ref("CompositeResponse"), LIMIT_INFO),
                    **api_errors(400),
                },
            }
        },
    }
