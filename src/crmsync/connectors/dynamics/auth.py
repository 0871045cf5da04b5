"""Entra ID client credentials for Dataverse: one token request, cached and refreshed before expiry."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from crmsync.connectors.auth import CachedToken, IssuedToken
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.http import TOKEN_REQUEST, Sleep, VendorHttp, parse_json
from crmsync.connectors.limits import RateLimiter
from crmsync.errors import (
    ConfigError,
    CredentialsRefusedError,
    CrmSyncError,
    TransientError,
    VendorResponseError,
)


def classify_token_error(response: httpx.Response, context: str) -> CrmSyncError:
    """Entra's `{error, error_description: "AADSTS…"}`; descriptions never echo the secret."""
    status = response.status_code
    if status == 429 or status >= 500:
        retry_after = response.headers.get("retry-after")
        return TransientError(
            f"{context}: the identity provider answered HTTP {status}",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error", "") if isinstance(body, dict) else ""
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    detail = f"{error}: {description.splitlines()[0][:200]}" if description else (error or f"HTTP {status}")
    if error in ("invalid_scope", "invalid_request", "unsupported_grant_type", "invalid_tenant") or status == 404:
        return ConfigError(f"{context}: the token request is misconfigured ({detail})")
    return CredentialsRefusedError(f"{context}: the identity provider refused the client credentials ({detail})")


class EntraClientCredentials:
    """`POST {authority}/{tenant}/oauth2/v2.0/token` with scope `{org_url}/.default`."""

    def __init__(self, settings: DynamicsSettings, http: VendorHttp) -> None:
        self._settings = settings
        self._http = http

    @classmethod
    def cached(
        cls, settings: DynamicsSettings, *, connection: str, client: httpx.AsyncClient, sleep: Sleep | None = None
    ) -> CachedToken:
        # The token endpoint is another service: its own (unlimited) limiter, no bearer token.
        http = VendorHttp(
            connection=connection,
            client=client,
            auth=None,
            classify=classify_token_error,
            limiter=RateLimiter(f"{connection} (Entra ID)", concurrency=4),
            retry=TOKEN_REQUEST,
            sleep=sleep,
        )
        flow = cls(settings, http)
        return CachedToken(flow.fetch, margin_s=settings.token_margin_s)

    async def fetch(self) -> IssuedToken:
        settings = self._settings
        context = f"dynamics token for {settings.org_url}"
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            "scope": f"{settings.org_url}/.default",
        }
        response = await self._http.request(
            "POST",
            settings.token_url,
            context=context,
            content=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        body = parse_json(response, f"{self._http.connection}: {context}")
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorResponseError(f"{self._http.connection}: {context}: the token response has no access_token")
        try:
            lifetime = float(expires_in) if expires_in is not None else None
        except (TypeError, ValueError):
            lifetime = None
        return IssuedToken(token, lifetime)
