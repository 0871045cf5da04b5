"""Bearer-token checks (private-app and OAuth tokens) and HubSpot's OAuth token endpoints."""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.http import bearer_token, json_response, note
from crmsync.emulators.core.tokens import TokenBook
from crmsync.emulators.hubspot import errors
from crmsync.emulators.hubspot.config import HubSpotConfig
from crmsync.emulators.hubspot.state import Writer
from crmsync.emulators.hubspot.timefmt import iso_ms

SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.contacts.read",
    "crm.schemas.companies.read",
    "crm.schemas.deals.read",
)


class HubSpotAuth:
    """Knows the static private-app token and the OAuth tokens it issued; answers 401s as HubSpot does."""

    def __init__(self, config: HubSpotConfig, clock: EmulatorClock) -> None:
        self.config = config
        self.clock = clock
        self.tokens = TokenBook(clock, prefix="CO")
        self.reset()

    def reset(self) -> None:
        self.tokens = TokenBook(self.clock, prefix="CO")
        self.tokens.add_static(self.config.private_app_token, f"API:{self.config.app_id}")

    def check(self, request: Request) -> Writer:
        token = bearer_token(request)
        state, issued = self.tokens.check(token)
        if state == "ok" and issued is not None:
            return Writer.parse(issued.principal)
        if state == "expired" and issued is not None and issued.expires_ms is not None:
            ago = max(math.floor((self.clock.now_ms() - issued.expires_ms) / 1000), 0)
            raise errors.api_error(
                401,
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expire time": [iso_ms(issued.expires_ms)]},
            )
        raise errors.api_error(
            401,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
            "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        )

    def expire(self, request: Request) -> None:
        token = bearer_token(request)
        if token is not None:
            self.tokens.expire(token)  # private-app tokens never expire; only OAuth tokens do

    # ---- OAuth endpoints ---------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/oauth/v1/token", self.token, methods=["POST"]),
            Route("/oauth/v3/token", self.token, methods=["POST"]),
            Route("/oauth/v1/access-tokens/{token}", self.token_info, methods=["GET"]),
        ]

    async def token(self, request: Request) -> Response:
        note(request, op="oauth.token")
        # Parsed by hand: form bodies are small, and this avoids depending on python-multipart.
        try:
            text = (await request.body()).decode()
        except UnicodeDecodeError:
            return _oauth_error("BAD_REQUEST", "the request body is not UTF-8 form data")
        values = dict(parse_qsl(text, keep_blank_values=True))
        cfg = self.config
        grant = values.get("grant_type", "")
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            return _oauth_error("BAD_GRANT_TYPE", f"unsupported grant_type: {grant or 'missing'}")
        if values.get("client_id") != cfg.client_id:
            return _oauth_error("BAD_CLIENT_ID", "missing or unknown client id")
        if values.get("client_secret") != cfg.client_secret:
            return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if grant == "refresh_token" and values.get("refresh_token") != cfg.refresh_token:
            return _oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        if grant == "authorization_code":
            if values.get("code") != cfg.authorization_code:
                return _oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
            if not values.get("redirect_uri"):
                return _oauth_error("BAD_REDIRECT_URI", "missing redirect_uri")
        access = self.tokens.issue(f"API:{cfg.app_id}", cfg.access_token_lifetime_s)
        body: dict[str, object] = {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": cfg.access_token_lifetime_s,
            "hub_id": cfg.portal_id,
            "user_id": cfg.user_id,
            "scopes": list(SCOPES),
            "token_use": "access",
        }
        if grant != "client_credentials":
            body["refresh_token"] = cfg.refresh_token
        return json_response(body)

    async def token_info(self, request: Request) -> Response:
        note(request, op="oauth.access-token-info")
        token = request.path_params["token"]
        state, issued = self.tokens.check(token)
        if issued is None:
            return errors.error_response(404, "access token not found", None)
        remaining = 0
        if issued.expires_ms is not None and state == "ok":
            remaining = max((issued.expires_ms - self.clock.now_ms()) // 1000, 0)
        cfg = self.config
        return json_response(
            {
                "token": token,
                "user": f"user{cfg.user_id}@{cfg.hub_domain}",
                "hub_domain": cfg.hub_domain,
                "scopes": list(SCOPES),
                "hub_id": cfg.portal_id,
                "app_id": cfg.app_id,
                "expires_in": remaining,
                "user_id": cfg.user_id,
                "token_type": "access",
            }
        )


def _oauth_error(status: str, message: str) -> Response:
    correlation = errors.correlation_id()
    return json_response(
        {"status": status, "message": message, "correlationId": correlation, "requestId": correlation}, 400
    )
