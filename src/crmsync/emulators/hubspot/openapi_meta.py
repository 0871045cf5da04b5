"""OpenAPI paths of associations (v3/v4), properties, pipelines, owners, schemas and the OAuth endpoints."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.hubspot.auth import SCOPES
from crmsync.emulators.hubspot.openapi_objects import OBJECT_TYPE, query
from crmsync.emulators.hubspot.openapi_schemas import (
    NO_CONTENT,
    NULLABLE_STRING,
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

Paths = dict[str, dict[str, Any]]
# Association batches accept ten times the object batch size (see routes_associations).
MAX_ASSOCIATION_INPUTS = MAX_INPUTS * 10


def _path(name: str, description: str, example: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": OBJECT_TYPE_NAMES} if name.endswith("Type") else STRING
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
        "example": example,
    }


FROM_TYPE = _path("fromObjectType", "object type associated from", "contacts")
TO_TYPE = _path("toObjectType", "object type associated to", "companies")
FROM_ID = _path("fromObjectId", "record id associated from", "1")
TO_ID = _path("toObjectId", "record id associated to", "2")


def _op(op_id: str, tag: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": op_id, "summary": summary, "tags": [tag], **extra, "responses": responses}


def association_schemas() -> dict[str, Any]:
    type_json = obj(
        {"category": STRING, "typeId": {"type": "integer"}, "label": NULLABLE_STRING}, ("category", "typeId", "label")
    )
    object_id = obj({"id": STRING}, ("id",))
    target = obj(
        {"toObjectId": {"type": "integer"}, "associationTypes": array(ref("AssociationType"))},
        ("toObjectId", "associationTypes"),
    )
    labels = obj(
        {
            "fromObjectTypeId": STRING,
            "fromObjectId": {"type": "integer"},
            "toObjectTypeId": STRING,
            "toObjectId": {"type": "integer"},
            "labels": STRING_LIST,
        },
        ("fromObjectTypeId", "fromObjectId", "toObjectTypeId", "toObjectId", "labels"),
    )
    default = obj(
        {"from": object_id, "to": object_id, "associationSpec": ref("AssociationSpec")},
        ("from", "to", "associationSpec"),
    )
    return {
        "AssociationType": type_json,
        "ObjectId": object_id,
        "MultiAssociatedObjectWithLabel": target,
        "LabelsBetweenObjectPair": labels,
        "PublicDefaultAssociation": default,
    }


def _inputs(item: dict[str, Any]) -> dict[str, Any]:
    return obj({"inputs": array(item, maxItems=MAX_ASSOCIATION_INPUTS)}, ("inputs",))


def association_paths() -> Paths:
    obj_base = "/crm/v4/objects/{fromObjectType}/{fromObjectId}/associations"
    batch = "/crm/v4/associations/{fromObjectType}/{toObjectType}"
    pair = [FROM_TYPE, TO_TYPE]
    single = [FROM_TYPE, FROM_ID, TO_TYPE, TO_ID]
    id_ref = ref("ObjectId")
    defaults = batch_response(ref("PublicDefaultAssociation"))
    example_pair = {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}}]}
    spec_example = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]
    create_input = obj(
        {"from": id_ref, "to": id_ref, "types": array(ref("AssociationSpec"), minItems=1)}, ("from", "to", "types")
    )
    read_result = obj({"from": id_ref, "to": array(ref("MultiAssociatedObjectWithLabel"))}, ("from", "to"))
    v3_result = obj({"from": id_ref, "to": id_ref, "type": STRING}, ("from", "to", "type"))
    page = obj({"results": array(ref("MultiAssociatedObjectWithLabel")), "paging": ref("Paging")}, ("results",))
    v3_input = obj({"from": id_ref, "to": id_ref, "type": STRING}, ("from", "to", "type"))
    return {
        f"{obj_base}/default/{{toObjectType}}/{{toObjectId}}": {
            "parameters": single,
            "put": _op(
                "associateDefault",
                "associations",
                "Associate two records with the default (unlabeled) type",
                {"200": json_reply("Both directions", defaults), **error_responses(404)},
            ),
        },
        f"{obj_base}/{{toObjectType}}/{{toObjectId}}": {
            "parameters": single,
            "put": _op(
                "associateLabelled",
                "associations",
                "Associate two records with the given types",
                {
                    "201": json_reply("The labels now between them", ref("LabelsBetweenObjectPair")),
                    **error_responses(404),
                },
                requestBody=json_body(array(ref("AssociationSpec"), minItems=1), spec_example),
            ),
            "delete": _op(
                "disassociate",
                "associations",
                "Remove every association between two records",
                {"204": NO_CONTENT, **error_responses(404)},
            ),
        },
        f"{obj_base}/{{toObjectType}}": {
            "parameters": [FROM_TYPE, FROM_ID, TO_TYPE],
            "get": _op(
                "listAssociations",
                "associations",
                "The records one record is associated with",
                {"200": json_reply("A page", page), **error_responses(404)},
                parameters=[
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 500}, "page size"),
                    query("after", {"type": "string", "pattern": "^[0-9]{1,9}$"}, "offset cursor of the next page"),
                ],
            ),
        },
        f"{batch}/labels": {
            "parameters": pair,
            "get": _op(
                "associationLabels",
                "associations",
                "Association types between two object types",
                {
                    "200": json_reply("The types", obj({"results": array(ref("AssociationType"))}, ("results",))),
                    **error_responses(404),
                },
            ),
        },
        f"{batch}/batch/create": {
            "parameters": pair,
            "post": _op(
                "batchAssociate",
                "associations",
                "Associate pairs with the given types",
                {
                    "201": json_reply("Done", batch_response(ref("LabelsBetweenObjectPair"))),
                    "207": json_reply("Some pairs failed", batch_response(ref("LabelsBetweenObjectPair"))),
                    **error_responses(404),
                },
                requestBody=json_body(
                    _inputs(create_input), {"inputs": [{**example_pair["inputs"][0], "types": spec_example}]}
                ),
            ),
        },
        f"{batch}/batch/associate/default": {
            "parameters": pair,
            "post": _op(
                "batchAssociateDefault",
                "associations",
                "Associate pairs with the default type",
                {
                    "200": json_reply("Done", defaults),
                    "207": json_reply("Some pairs failed", defaults),
                    **error_responses(404),
                },
                requestBody=json_body(_inputs(obj({"from": id_ref, "to": id_ref}, ("from", "to"))), example_pair),
            ),
        },
        f"{batch}/batch/read": {
            "parameters": pair,
            "post": _op(
                "batchReadAssociations",
                "associations",
                "The associations of many records",
                {
                    "200": json_reply("Done", batch_response(read_result)),
                    "207": json_reply("Some records were not found", batch_response(read_result)),
                    **error_responses(404),
                },
                requestBody=json_body(_inputs(id_ref), {"inputs": [{"id": "1"}]}),
            ),
        },
        f"{batch}/batch/archive": {
            "parameters": pair,
            "post": _op(
                "batchDisassociate",
                "associations",
                "Remove all associations of the given pairs",
                {"204": NO_CONTENT, **error_responses(404)},
                requestBody=json_body(
                    _inputs(obj({"from": id_ref, "to": array(id_ref)}, ("from", "to"))),
                    {"inputs": [{"from": {"id": "1"}, "to": [{"id": "2"}]}]},
                ),
            ),
        },
        "/crm/v3/associations/{fromObjectType}/{toObjectType}/batch/create": {
            "parameters": pair,
            "post": _op(
                "batchAssociateV3",
                "associations",
                "Associate pairs by v3 type name (e.g. contact_to_company)",
                {
                    "201": json_reply("Both directions", batch_response(v3_result)),
                    "207": json_reply("Some pairs failed", batch_response(v3_result)),
                    **error_responses(404),
                },
                requestBody=json_body(
                    _inputs(v3_input),
                    {"inputs": [{"from": {"id": "1"}, "to": {"id": "2"}, "type": "contact_to_company"}]},
                ),
            ),
        },
    }


def metadata_paths() -> Paths:
    name = {"name": "propertyName", "in": "path", "required": True, "schema": STRING, "example": "email"}
    pipeline_id = {"name": "pipelineId", "in": "path", "required": True, "schema": STRING, "example": "default"}
    pipelines = obj({"results": array(ref("Pipeline"))}, ("results",))
    owners = {
        "get": _op(
            "listOwners",
            "owners",
            "The portal's owners",
            {
                "200": json_reply("The owners", obj({"results": array(ref("PublicOwner"))}, ("results",))),
                **error_responses(),
            },
            parameters=[
                query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "page size"),
                query("email", STRING, "only the owner with this email"),
            ],
        )
    }
    return {
        "/crm/v3/properties/{objectType}": {
            "parameters": [OBJECT_TYPE],
            "get": _op(
                "listProperties",
                "properties",
                "Every property of an object type",
                {
                    "200": json_reply("The properties", obj({"results": array(ref("Property"))}, ("results",))),
                    **error_responses(404),
                },
            ),
            "post": _op(
                "createProperty",
                "properties",
                "Create a custom property (`hasUniqueValue` makes it an idProperty)",
                {"201": json_reply("Created", ref("Property")), **error_responses(404, 409)},
                requestBody=json_body(
                    ref("PropertyCreate"),
                    {
                        "name": "external_id",
                        "label": "External id",
                        "type": "string",
                        "fieldType": "text",
                        "groupName": "contactinformation",
                        "hasUniqueValue": True,
                    },
                ),
            ),
        },
        "/crm/v3/properties/{objectType}/{propertyName}": {
            "parameters": [OBJECT_TYPE, name],
            "get": _op(
                "readProperty",
                "properties",
                "One property",
                {"200": json_reply("The property", ref("Property")), **error_responses(404)},
            ),
        },
        "/crm/v3/pipelines/{objectType}": {
            "parameters": [{**OBJECT_TYPE, "example": "deals"}],
            "get": _op(
                "listPipelines",
                "pipelines",
                "Pipelines (deals have two; others none)",
                {"200": json_reply("The pipelines", pipelines), **error_responses(404)},
            ),
        },
        "/crm/v3/pipelines/{objectType}/{pipelineId}": {
            "parameters": [{**OBJECT_TYPE, "example": "deals"}, pipeline_id],
            "get": _op(
                "readPipeline",
                "pipelines",
                "One pipeline",
                {"200": json_reply("The pipeline", ref("Pipeline")), **error_responses(404)},
            ),
        },
        "/crm/v3/owners": owners,
        "/crm/v3/owners/": {"get": {**owners["get"], "operationId": "listOwnersSlash"}},
        "/crm/v3/schemas": {
            "get": _op(
                "listSchemas",
                "schemas",
                "Custom object schemas (none are emulated)",
                {
                    "200": json_reply(
                        "No custom objects", obj({"results": array({"type": "object"}, maxItems=0)}, ("results",))
                    ),
                    **error_responses(),
                },
            ),
        },
    }


def oauth_paths() -> Paths:
    form = obj(
        {
            "grant_type": {"enum": ["authorization_code", "refresh_token", "client_credentials"]},
            "client_id": STRING,
            "client_secret": STRING,
            "refresh_token": STRING,
            "code": STRING,
            "redirect_uri": STRING,
            "scope": STRING,
        },
        ("grant_type", "client_id", "client_secret"),
    )
    token = obj(
        {
            "token_type": {"const": "bearer"},
            "access_token": STRING,
            "refresh_token": STRING,
            "expires_in": {"type": "integer", "minimum": 0},
            "hub_id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "scopes": array({"enum": list(SCOPES)}),
            "token_use": STRING,
        },
        ("token_type", "access_token", "expires_in"),
    )
    info = obj(
        {
            "token": STRING,
            "user": STRING,
            "hub_domain": STRING,
            "scopes": STRING_LIST,
            "hub_id": {"type": "integer"},
            "app_id": {"type": "integer"},
            "expires_in": {"type": "integer", "minimum": 0},
            "user_id": {"type": "integer"},
            "token_type": STRING,
        },
        ("token", "hub_id", "app_id", "expires_in", "scopes"),
    )
    oauth_error = json_reply("A bad grant, client, secret, code or refresh token", ref("OAuthError"))

    def token_op(op_id: str) -> dict[str, Any]:
        return {
            "post": _op(
                op_id,
                "oauth",
                "Exchange a code or refresh token, or use client credentials, for an access token",
                {"200": json_reply("An access token (1,800 s)", token), "400": oauth_error},
                security=[],
                requestBody={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
            )
        }

    token_name = {"name": "token", "in": "path", "required": True, "schema": STRING}
    return {
        "/oauth/v1/token": token_op("oauthToken"),
        "/oauth/v3/token": token_op("oauthTokenV3"),
        "/oauth/v1/access-tokens/{token}": {
            "parameters": [token_name],
            "get": _op(
                "accessTokenInfo",
                "oauth",
                "Metadata of an access token",
                {"200": json_reply("The token's metadata", info), "404": json_reply("Unknown token", ref("Error"))},
                security=[],
            ),
        },
    }
