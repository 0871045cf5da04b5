"""OAuth token endpoint (client credentials and JWT bearer) and session checks on every API call."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import Response

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.http import base_url, json_response
from crmsync.emulators.core.tokens import TokenBook
from crmsync.emulators.salesforce.config import SalesforceConfig
from crmsync.emulators.salesforce.errors import invalid_session

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@lru_cache(maxsize=1)
def generated_keypair() -> tuple[str, str]:
    """(private PEM, public PEM); generated once per process: RSA generation is slow and tests make many apps."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


class Auth:
    """Issues sessions and checks them; sessions last `session_timeout_s` of emulator time."""

    def __init__(self, config: SalesforceConfig, clock: EmulatorClock, org_id: str) -> None:
        self.config = config
        self.clock = clock
        self.org_id = org_id
        self.tokens = TokenBook(clock, prefix=org_id[:15] + "!")
        self.private_pem: str | None = None
        if config.jwt_public_key_pem:
            self.public_pem = config.jwt_public_key_pem
        else:
            self.private_pem, self.public_pem = generated_keypair()
        self.user_id = ""

    def reset(self, user_id: str) -> None:
        self.user_id = user_id
        self.tokens = TokenBook(self.clock, prefix=self.org_id[:15] + "!")
        if self.config.static_session_token:
            self.tokens.add_static(self.config.static_session_token, user_id)

    def session_user(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in {"bearer", "oauth"} or not token.strip():
            raise invalid_session()
        state, issued = self.tokens.check(token.strip())
        if state != "ok" or issued is None:
            raise invalid_session()
        return issued.principal

    def expire(self, request: Request) -> None:
        _, _, token = request.headers.get("authorization", "").partition(" ")
        if token.strip():
            self.tokens.expire(token.strip())

    async def token_endpoint(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            return self._client_credentials(request, form)
        if grant == JWT_GRANT:
            return self._jwt_bearer(request, form)
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _client_credentials(self, request: Request, form: dict[str, str]) -> Response:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return _oauth_error("invalid_client", "invalid client credentials", 401)
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.config.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(client_secret or "", self.config.client_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        return self._issue(request, {"token_format": "opaque"})

    def _jwt_bearer(self, request: Request, form: dict[str, str]) -> Response:
        assertion = form.get("assertion", "")
        audiences = [*self.config.jwt_audiences, base_url(request)]
        try:
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self.public_pem,
                algorithms=["RS256"],
                audience=audiences,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.InvalidAudienceError:
            return _oauth_error("invalid_grant", "audience is invalid")
        except jwt.ExpiredSignatureError:
            return _oauth_error("invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        if claims.get("iss") != self.config.consumer_key:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self.config.username:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(request, {})

    def _issue(self, request: Request, extra: dict[str, str]) -> Response:
        token = self.tokens.issue(self.user_id, self.config.session_timeout_s)
        base = base_url(request)
        issued_at = str(self.clock.now_ms())
        identity = f"{base}/id/{self.org_id}/{self.user_id}"
        digest = hmac.new(self.config.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        body = {
            "access_token": token,
            "signature": base64.b64encode(digest.digest()).decode(),
            "scope": "api",
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            **extra,
        }
        return json_response(body, headers={"Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"})
