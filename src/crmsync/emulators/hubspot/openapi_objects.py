"""OpenAPI paths of the object endpoints: list, CRUD, merge, search and batch, under both object prefixes."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.hubspot.openapi_schemas import (
    OBJECT_TYPE_NAMES,
    STRING,
    STRING_LIST,
    array,
    batch_response,
    error_responses,
    json_body,
    json_reply,
    obj,
    ref,
)
from crmsync.emulators.hubspot.routes_batch import MAX_INPUTS
from crmsync.emulators.hubspot.routes_objects import OBJECT_PREFIXES

Operation = dict[str, Any]

OBJECT_TYPE: dict[str, Any] = {
    "name": "objectType",
    "in": "path",
    "required": True,
    "description": "plural name, singular name or object type id (case-insensitive); others answer 400",
    "schema": {"enum": OBJECT_TYPE_NAMES},
    "example": "contacts",
}
OBJECT_ID: dict[str, Any] = {
    "name": "objectId",
    "in": "path",
    "required": True,
    "description": "record id (a merged-away id answers with the merged record), or a value of `idProperty`",
    "schema": STRING,
    "example": "1",
}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    param["description"] = description
    if schema.get("type") == "array":
        # Repeated (`a=1&a=2`, as the SDKs send) and comma-separated (`a=1,2`) are both accepted.
        param |= {"style": "form", "explode": True}
    return param


PROPERTIES = query("properties", STRING_LIST, "properties to return; unknown names are ignored")
HISTORY = query("propertiesWithHistory", STRING_LIST, "properties to return with their value history")
ASSOCIATIONS = query("associations", array({"enum": OBJECT_TYPE_NAMES}), "object types whose associated ids to return")
ARCHIVED = query("archived", {"type": "boolean", "default": False}, "only archived records (never merged-away)")
ID_PROPERTY = query("idProperty", STRING, "a unique property (e.g. `email`) that `objectId` is a value of")
LIST_PARAMS = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}, "page size"),
    query("after", STRING, "the paging cursor of the previous page (`paging.next.after`)"),
    PROPERTIES,
    HISTORY,
    ASSOCIATIONS,
    ARCHIVED,
]
CONTACT_EXAMPLE = {"properties": {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}}


def _batch_inputs(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return obj({"inputs": array(item, maxItems=MAX_INPUTS), **extra}, ("inputs",))


def _trace(schema: dict[str, Any]) -> dict[str, Any]:
    """A batch write input; unique `objectWriteTraceId`s turn per-input failures into 207 errors."""
    return {"allOf": [schema, obj({"objectWriteTraceId": STRING})]}


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> Operation:
    return {"operationId": op_id, "summary": summary, "tags": ["objects"], **extra, "responses": responses}


def _basic(prefix: str, suffix: str) -> dict[str, dict[str, Any]]:
    base = f"{prefix}/{{objectType}}"
    record_reply = json_reply("The record", ref("SimplePublicObject"))
    return {
        base: {
            "parameters": [OBJECT_TYPE],
            "get": _op(
                f"list{suffix}",
                "A page of records in id order",
                {"200": json_reply("A page", ref("CollectionResponseSimplePublicObject")), **error_responses(404)},
                parameters=LIST_PARAMS,
            ),
            "post": _op(
                f"create{suffix}",
                "Create a record (with optional associations)",
                {"201": json_reply("Created", ref("SimplePublicObject")), **error_responses(404, 409)},
                requestBody=json_body(ref("SimplePublicObjectInputForCreate"), CONTACT_EXAMPLE),
            ),
        },
        f"{base}/{{objectId}}": {
            "parameters": [OBJECT_TYPE, OBJECT_ID],
            "get": _op(
                f"read{suffix}",
                "Read one record by id or unique property",
                {"200": record_reply, **error_responses(404)},
                parameters=[PROPERTIES, HISTORY, ASSOCIATIONS, ARCHIVED, ID_PROPERTY],
            ),
            "patch": _op(
                f"update{suffix}",
                'Update properties ("" clears a value)',
                {"200": record_reply, **error_responses(404, 409)},
                parameters=[ID_PROPERTY],
                requestBody=json_body(ref("SimplePublicObjectInput"), {"properties": {"firstname": "Grace"}}),
            ),
            "delete": _op(
                f"archive{suffix}",
                "Archive a record (204 also when it does not exist)",
                {"204": {"description": "Archived"}, **error_responses(404)},
            ),
        },
        f"{base}/merge": {
            "parameters": [OBJECT_TYPE],
            "post": _op(
                f"merge{suffix}",
                "Merge two records into a new one (contacts, companies, deals)",
                {"200": json_reply("The merged record", ref("SimplePublicObject")), **error_responses(404, 409)},
                requestBody=json_body(
                    obj({"primaryObjectId": STRING, "objectIdToMerge": STRING}, ("primaryObjectId", "objectIdToMerge")),
                    {"primaryObjectId": "1", "objectIdToMerge": "2"},
                ),
            ),
        },
        f"{base}/search": {
            "parameters": [OBJECT_TYPE],
            "post": _op(
                f"search{suffix}",
                "Search with filter groups, one sort and a free-text query (offset paging below 10,000)",
                {
                    "200": json_reply("A page of matches", ref("CollectionResponseWithTotalSimplePublicObject")),
                    **error_responses(404),
                },
                requestBody=json_body(
                    ref("PublicObjectSearchRequest"),
                    {
                        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
                        "sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}],
                        "properties": ["email", "firstname"],
                        "limit": 5,
                    },
                ),
            ),
        },
    }


def _batch(prefix: str, suffix: str) -> dict[str, dict[str, Any]]:
    base = f"{prefix}/{{objectType}}/batch"
    records = batch_response(ref("SimplePublicObject"))
    id_input = obj({"id": STRING}, ("id",))
    update_input = obj({"id": STRING, "idProperty": STRING, "properties": ref("PropertyValues")}, ("id", "properties"))
    upsert_input = obj(
        {"id": STRING, "idProperty": STRING, "properties": ref("PropertyValues")}, ("id", "idProperty", "properties")
    )
    read_body = _batch_inputs(id_input, properties=STRING_LIST, propertiesWithHistory=STRING_LIST, idProperty=STRING)

    def op(
        name: str, summary: str, ok: str, reply: dict[str, Any], body: dict[str, Any], example: Any, *more: int
    ) -> dict[str, Any]:
        responses = {ok: json_reply("All inputs done", reply), "207": json_reply("Some inputs failed", reply)}
        if ok == "204":
            responses[ok] = {"description": "All inputs archived"}
        operation = _op(
            f"batch{name.title()}{suffix}",
            summary,
            {**responses, **error_responses(404, *more)},
            requestBody=json_body(body, example),
        )
        if name == "read":
            operation["parameters"] = [ARCHIVED]
        return {"parameters": [OBJECT_TYPE], "post": operation}

    return {
        f"{base}/read": op("read", "Read up to 100 records", "200", records, read_body, {"inputs": [{"id": "1"}]}),
        f"{base}/create": op(
            "create",
            "Create up to 100 records",
            "201",
            records,
            _batch_inputs(_trace(ref("SimplePublicObjectInputForCreate"))),
            {"inputs": [CONTACT_EXAMPLE]},
            409,
        ),
        f"{base}/update": op(
            "update",
            "Update up to 100 records",
            "200",
            records,
            _batch_inputs(_trace(update_input)),
            {"inputs": [{"id": "1", "properties": {"firstname": "Grace"}}]},
            409,
        ),
        f"{base}/upsert": op(
            "upsert",
            "Create or update up to 100 records by a unique property",
            "200",
            batch_response(ref("SimplePublicUpsertObject")),
            _batch_inputs(_trace(upsert_input)),
            {"inputs": [{"id": "ada@example.com", "idProperty": "email", "properties": {"firstname": "Ada"}}]},
            409,
        ),
        f"{base}/archive": op(
            "archive", "Archive up to 100 records", "204", records, _batch_inputs(id_input), {"inputs": [{"id": "1"}]}
        ),
    }


def object_paths() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for index, prefix in enumerate(OBJECT_PREFIXES):
        suffix = "" if index == 0 else "Dated"
        paths |= _basic(prefix, suffix)
        paths |= _batch(prefix, suffix)
    return paths
