"""HubSpot request signatures: v1 and v2 (hex SHA-256) and v3 (base64 HMAC-SHA256 with a timestamp)."""

from __future__ import annotations

import base64
import hashlib
import hmac

MAX_AGE_MS = 300_000


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.upper().encode() + uri.encode() + body).hexdigest()


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    message = method.upper().encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int, signature: str, now_ms: int) -> bool:
    """Constant-time check, rejecting timestamps older than five minutes."""
    if now_ms - timestamp_ms > MAX_AGE_MS:
        return False
    return hmac.compare_digest(sign_v3(secret, method, uri, body, timestamp_ms), signature)
