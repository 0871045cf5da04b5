"""Salesforce OAuth: JWT bearer and client-credentials token requests; the response's instance_url is the API base."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import jwt
import orjson

from crmsync.connectors.auth import CachedToken, IssuedToken, StaticToken
from crmsync.connectors.http import network_error
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.errors import ConfigError, CredentialsRefusedError, TransientError, VendorResponseError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class SalesforceAuth:
    """Mints sessions for one connection and remembers the instance URL the token endpoint names.

    Salesforce sessions carry no `expires_in`: the token is kept until a 401 (`INVALID_SESSION_ID`)
    invalidates it, and JWT bearer has no refresh token, so a fresh assertion is signed each time.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        connection: str,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.client = client
        self.clock = clock
        self.instance_url: str | None = settings.instance_url
        self.provider: CachedToken | StaticToken
        if settings.auth_flow == "session":
            assert settings.session_id is not None  # checked by the settings validator
            self.provider = StaticToken(settings.session_id.get_secret_value(), setting="session_id")
        else:
            self.provider = CachedToken(self._fetch, default_lifetime_s=None)

    def base_url(self) -> str:
        if self.instance_url is None:
            raise ConfigError(f"{self.connection}: salesforce: no instance URL yet (no session was issued)")
        return self.instance_url

    def _form(self) -> tuple[dict[str, str], httpx.BasicAuth | None]:
        s = self.settings
        if s.auth_flow == "jwt_bearer":
            assert s.private_key_pem is not None and s.username is not None
            now = int(self.clock())
            audience = s.jwt_audience or s.login_url
            claims = {"iss": s.client_id, "sub": s.username, "aud": audience, "exp": now + s.jwt_lifetime_s}
            try:
                assertion = jwt.encode(claims, s.private_key_pem.get_secret_value(), algorithm="RS256")
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                # The key's text never goes into the message, only the kind of failure.
                raise ConfigError(
                    f"{self.connection}: salesforce: the configured private key cannot sign a JWT "
                    f"({type(exc).__name__})"
                ) from None
            return {"grant_type": JWT_GRANT, "assertion": assertion}, None
        assert s.client_secret is not None
        return {"grant_type": "client_credentials"}, httpx.BasicAuth(s.client_id, s.client_secret.get_secret_value())

    async def _fetch(self) -> IssuedToken:
        form, basic = self._form()
        url = self.settings.resolved_token_url
        context = f"{self.connection}: salesforce token request ({self.settings.auth_flow})"
        try:
            response = await self.client.post(url, data=form, auth=basic or httpx.USE_CLIENT_DEFAULT)
        except httpx.TransportError as exc:
            raise network_error(context, exc) from exc  # the form holds secrets: never part of the message
        if response.status_code >= 500:
            raise TransientError(f"{context}: HTTP {response.status_code}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise VendorResponseError(
                f"{context}: expected JSON from the token endpoint (HTTP {response.status_code})"
            ) from None
        if not isinstance(body, dict):
            raise VendorResponseError(f"{context}: the token response is not a JSON object")
        if response.status_code != 200:
            error = str(body.get("error", "unknown_error"))
            description = str(body.get("error_description", ""))[:200]
            raise CredentialsRefusedError(f"{context}: refused: {error}: {description}")
        token, instance = body.get("access_token"), body.get("instance_url")
        if not isinstance(token, str) or not token or not isinstance(instance, str) or not instance:
            raise VendorResponseError(f"{context}: the token response lacks access_token or instance_url")
        self.instance_url = instance.rstrip("/")
        return IssuedToken(access_token=token, expires_in=None)
