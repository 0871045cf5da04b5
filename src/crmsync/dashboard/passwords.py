"""Password hashes for dashboard users: standard scrypt (or PBKDF2) strings, made and checked with hashlib only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # about 32 MiB and 50 ms a check: costly to guess, cheap to sign in
PBKDF2_ITERATIONS = 600_000
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class PasswordHashError(ValueError):
    """A stored hash that is not one `crmsync dashboard hash-password` writes."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$hash` (base64 without padding): what `password_hash:` holds."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (scrypt or pbkdf2_sha256); compared in constant time."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, expected = _unb64(parts[4]), _unb64(parts[5])
            actual = hashlib.scrypt(
                password.encode(),
                salt=salt,
                n=n,
                r=r,
                p=p,
                maxmem=max(_SCRYPT_MAXMEM, 129 * n * r * p),
                dklen=len(expected),
            )
        elif parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations, salt, expected = int(parts[1]), _unb64(parts[2]), _unb64(parts[3])
            actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=len(expected))
        else:
            raise PasswordHashError("expected scrypt$N$r$p$salt$hash or pbkdf2_sha256$iterations$salt$hash")
    except (ValueError, TypeError) as exc:  # bad numbers or base64 (binascii.Error is a ValueError)
        if isinstance(exc, PasswordHashError):
            raise
        raise PasswordHashError("the stored password hash is malformed") from None
    return hmac.compare_digest(actual, expected)


__all__ = ["PasswordHashError", "hash_password", "verify_password"]
