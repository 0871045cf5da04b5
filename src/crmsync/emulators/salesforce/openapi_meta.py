"""OpenAPI paths of the OAuth token endpoint and the metadata calls (versions, resources, limits, describes)."""

from __future__ import annotations

from typing import Any

from crmsync.emulators.salesforce.openapi_schemas import (
    api_errors,
    array,
    error_ref,
    json_reply,
    param_ref,
    ref,
)

Paths = dict[str, dict[str, Any]]
DATA = "/services/data/{version}"
LIMIT_INFO = {
    "Sforce-Limit-Info": {
        "description": "`api-usage=N/M`: API requests used in the rolling 24 hours out of the daily allocation",
        "required": True,
        "schema": {"type": "string", "pattern": r"^api-usage=\d+/\d+$"},
    }
}


def _get(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"get": {"operationId": op_id, "summary": summary, "responses": responses, **extra}}


def oauth_paths() -> Paths:
    form = {
        "application/x-www-form-urlencoded": {
            "schema": ref("TokenRequest"),
            "example": {
                "grant_type": "client_credentials",
                "client_id": "crmsync-emulator-client",
                "client_secret": "crmsync-emulator-secret",
            },
        }
    }
    oauth_error = ref("OAuthError")
    return {
        "/services/oauth2/token": {
            "post": {
                "operationId": "oauth_token",
                "summary": "Issue a session (client credentials or JWT bearer); no expires_in",
                "security": [],
                "requestBody": {"required": True, "content": form},
                "responses": {
                    "200": json_reply("a session; client credentials add `token_format: opaque`", ref("TokenResponse")),
                    "400": json_reply(
                        "invalid_client_id, invalid_client, invalid_grant or unsupported_grant_type", oauth_error
                    ),
                    "401": json_reply("undecodable HTTP Basic credentials: invalid_client", oauth_error),
                },
            }
        }
    }


def meta_paths() -> Paths:
    version = param_ref("Version")
    sobject = param_ref("SObject")
    return {
        "/services/data": _get(
            "versions",
            "List the API versions this org serves (no session needed)",
            {
                "200": json_reply("one entry per version", array(ref("ApiVersion")), LIMIT_INFO),
                "403": error_ref("Forbidden"),
            },
            security=[],
        ),
        DATA: _get(
            "resources",
            "The resources of one API version",
            {"200": json_reply("resource name → URL", ref("Resources"), LIMIT_INFO), **api_errors()},
            parameters=[version],
        ),
        f"{DATA}/limits": _get(
            "limits",
            "Org allocations; DailyApiRequests is live",
            {"200": json_reply("allocation name → Max/Remaining", ref("Limits"), LIMIT_INFO), **api_errors()},
            parameters=[version],
        ),
        f"{DATA}/sobjects": _get(
            "describe_global",
            "Describe global: every sObject with its flags and URLs",
            {"200": json_reply("the org's objects", ref("DescribeGlobal"), LIMIT_INFO), **api_errors()},
            parameters=[version],
        ),
        f"{DATA}/sobjects/{{sobject}}": _get(
            "basic_info",
            "Basic information about an object and its most recently created records",
            {"200": json_reply("object summary and recent items", ref("BasicInfo"), LIMIT_INFO), **api_errors()},
            parameters=[version, sobject],
        ),
        f"{DATA}/sobjects/{{sobject}}/describe": _get(
            "describe",
            "Full describe of an object (fields, child relationships, record types)",
            {
                "200": json_reply(
                    "the describe",
                    ref("Describe"),
                    {
                        **LIMIT_INFO,
                        "Last-Modified": {
                            "description": "when the schema last changed",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    },
                ),
                "304": {"description": "the schema has not changed since If-Modified-Since"},
                **api_errors(),
            },
            parameters=[
                version,
                sobject,
                {
                    "name": "If-Modified-Since",
                    "in": "header",
                    "required": False,
                    "description": "an HTTP date; 304 when the schema has not changed since",
                    "schema": {"type": "string"},
                    "example": "Tue, 01 Jan 2030 00:00:00 GMT",
                },
            ],
        ),
    }
