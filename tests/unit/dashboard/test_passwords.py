"""Password hashes: what `crmsync dashboard hash-password` writes is what sign-in checks, in both schemes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from crmsync.dashboard.passwords import PasswordHashError, hash_password, verify_password


def test_a_scrypt_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$32768$8$1$")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)


def test_the_same_password_gets_a_different_salt_each_time() -> None:
    assert hash_password("same") != hash_password("same")


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def test_a_pbkdf2_hash_made_elsewhere_verifies() -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"s3cret!", salt, 1000)
    stored = f"pbkdf2_sha256$1000${encode(salt)}${encode(digest)}"
    assert verify_password("s3cret!", stored)
    assert not verify_password("s3cret", stored)


@pytest.mark.parametrize("stored", ["md5$abc", "scrypt$x$8$1$AAAA$AAAA", "pbkdf2_sha256$10$%%%$AAAA", "plain"])
def test_a_malformed_hash_is_an_error_not_a_match(stored: str) -> None:
    with pytest.raises(PasswordHashError):
        verify_password("anything", stored)


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")
