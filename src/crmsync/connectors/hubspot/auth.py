"""HubSpot auth: a private-app token as is, or OAuth access tokens refreshed from the refresh token."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from crmsync.connectors.auth import CachedToken, IssuedToken, StaticToken
from crmsync.connectors.http import TOKEN_REQUEST, Sleep, TokenProvider, VendorHttp, parse_json
from crmsync.connectors.hubspot.errors import envelope
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.limits import RateLimiter
from crmsync.errors import CredentialsRefusedError, CrmSyncError, TransientError, VendorResponseError


def _classify_token_error(response: httpx.Response, context: str) -> CrmSyncError:
    if response.status_code >= 500 or response.status_code == 429:
        return TransientError(f"{context}: HubSpot {response.status_code} from the token endpoint")
    body = envelope(response)
    # HubSpot answers BAD_CLIENT_ID / BAD_REFRESH_TOKEN ... with a message that never echoes the secret.
    return CredentialsRefusedError(
        f"{context}: HubSpot refused the OAuth refresh: {body.get('status', '')} {body.get('message', '')}"
    )


def token_provider(
    settings: HubSpotSettings, *, connection: str, client: httpx.AsyncClient, sleep: Sleep | None
) -> TokenProvider:
    if settings.access_token is not None:
        return StaticToken(settings.access_token.get_secret_value())
    http = VendorHttp(
        connection=connection,
        client=client,
        auth=None,
        classify=_classify_token_error,
        limiter=RateLimiter(f"{connection} (oauth)"),
        retry=TOKEN_REQUEST,
        sleep=sleep,
        base_url=settings.base_url,
    )
    assert settings.client_id and settings.client_secret and settings.refresh_token  # checked by the settings

    async def fetch() -> IssuedToken:
        form = {
            "grant_type": "refresh_token",
            "client_id": settings.client_id or "",
            "client_secret": settings.client_secret.get_secret_value() if settings.client_secret else "",
            "refresh_token": settings.refresh_token.get_secret_value() if settings.refresh_token else "",
        }
        context = "hubspot oauth token refresh"
        response = await http.request(
            "POST",
            settings.token_path,
            context=context,
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        body = parse_json(response, f"{connection}: {context}")
        token, expires = body.get("access_token") if isinstance(body, dict) else None, None
        if isinstance(body, dict) and isinstance(body.get("expires_in"), int | float):
            expires = float(body["expires_in"])
        if not isinstance(token, str) or not token:
            raise VendorResponseError(f"{connection}: {context}: the token response has no access_token")
        return IssuedToken(token, expires)

    return CachedToken(fetch, margin_s=120.0)
