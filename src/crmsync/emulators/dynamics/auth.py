"""Entra ID-style token endpoints (v2 `scope`, v1 `resource`), OIDC discovery, and bearer checks for the API."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.http import base_url, bearer_token, json_response, note
from crmsync.emulators.core.tokens import TokenBook
from crmsync.emulators.dynamics import errors
from crmsync.emulators.dynamics.config import DynamicsConfig

_SIGNING_KEY = "crmsync-dataverse-emulator-signing-key-not-a-secret"


class EntraAuth:
    def __init__(self, config: DynamicsConfig, clock: EmulatorClock) -> None:
        self.config = config
        self.clock = clock
        self.tokens = TokenBook(clock)

    # ---- errors -----------------------------------------------------------------------------
    def _entra_error(self, status: int, error: str, code: int, description: str) -> Response:
        now = self.clock.now()
        trace = str(uuid.uuid4())
        return json_response(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Timestamp: "
                f"{now.strftime('%Y-%m-%d %H:%M:%SZ')}",
                "error_codes": [code],
                "timestamp": now.strftime("%Y-%m-%d %H:%M:%SZ"),
                "trace_id": trace,
                "correlation_id": str(uuid.uuid4()),
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
            status,
        )

    # ---- token issue ------------------------------------------------------------------------
    def _client(self, form: dict[str, str], request: Request) -> tuple[str | None, str | None]:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
                basic_id, _, basic_secret = decoded.partition(":")
                client_id, secret = client_id or basic_id, secret or basic_secret
            except (ValueError, UnicodeDecodeError):
                return None, None
        return client_id, secret

    async def _validated(self, request: Request) -> dict[str, str] | Response:
        note(request, op="POST /{tenant}/oauth2/token")
        tenant = request.path_params["tenant"]
        if tenant != self.config.tenant_id:
            return self._entra_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
            )
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in content_type:
            return self._entra_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
            )
        try:
            form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return self._entra_error(400, "invalid_request", 900144, "The request body is not valid form data.")
        grant = form.get("grant_type")
        if not grant:
            return self._entra_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
            )
        if grant != "client_credentials":
            return self._entra_error(
                400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
            )
        client_id, secret = self._client(form, request)
        if not client_id:
            return self._entra_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        if client_id != self.config.client_id:
            return self._entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if secret != self.config.client_secret:
            return self._entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        form["client_id"] = client_id
        return form

    def issue_token(self, audience: str) -> tuple[str, int]:
        now_s = self.clock.now_ms() // 1000
        lifetime = self.config.token_lifetime_s
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.config.tenant_id}/",
            "iat": now_s,
            "nbf": now_s,
            "exp": now_s + lifetime,
            "appid": self.config.client_id,
            "oid": self.config.application_user_id,
            "tid": self.config.tenant_id,
            "ver": "1.0",
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(claims, _SIGNING_KEY, algorithm="HS256")
        self.tokens.issue(self.config.application_user_id, lifetime, token=token)
        return token, now_s

    async def token_v2(self, request: Request) -> Response:
        form = await self._validated(request)
        if isinstance(form, Response):
            return form
        scope = form.get("scope", "").strip()
        if not scope:
            return self._entra_error(
                400, "invalid_request", 90014, "The required field 'scope' is missing from the credential."
            )
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self._entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        token, _ = self.issue_token(scopes[0].removesuffix("/.default"))
        lifetime = self.config.token_lifetime_s
        return json_response(
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )

    async def token_v1(self, request: Request) -> Response:
        form = await self._validated(request)
        if isinstance(form, Response):
            return form
        resource = form.get("resource", "").strip()
        if not resource:
            return self._entra_error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'."
            )
        token, now_s = self.issue_token(resource.rstrip("/"))
        lifetime = self.config.token_lifetime_s
        # The v1 endpoint answers with numbers as strings.
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(now_s + lifetime),
                "not_before": str(now_s),
                "resource": resource,
                "access_token": token,
            }
        )

    async def openid_configuration(self, request: Request) -> Response:
        note(request, op="GET /{tenant}/v2.0/.well-known/openid-configuration")
        tenant = request.path_params["tenant"]
        if tenant != self.config.tenant_id:
            return self._entra_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
            )
        base = f"{base_url(request)}/{tenant}"
        return json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            }
        )

    def routes(self) -> list[Route]:
        return [
            Route("/{tenant}/oauth2/v2.0/token", self.token_v2, methods=["POST"]),
            Route("/{tenant}/oauth2/token", self.token_v1, methods=["POST"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
            Route("/{tenant}/.well-known/openid-configuration", self.openid_configuration, methods=["GET"]),
        ]

    # ---- API checks -------------------------------------------------------------------------
    def authenticate(self, request: Request) -> str:  # noqa: RET503 (ends in a NoReturn error)
        """The caller's systemuser id, or the Dataverse 401 with its WWW-Authenticate challenge."""
        token = bearer_token(request)
        status, issued = self.tokens.check(token)
        if status == "ok" and issued is not None:
            return issued.principal
        base = base_url(request)
        challenge = f"Bearer authorization_uri={base}/{self.config.tenant_id}/oauth2/authorize, resource_id={base}/"
        if token is None:
            message = "HTTP Error 401 - Unauthorized: Access is denied"
        elif status == "expired":
            message = "The access token has expired. Acquire a new token and retry the request."
        else:
            message = "The access token is invalid."
        errors.fail(401, "", message, {"WWW-Authenticate": challenge})

    def expire(self, token: str | None) -> None:
        if token is not None:
            self.tokens.expire(token)
