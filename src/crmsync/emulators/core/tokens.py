"""Issued access tokens with lifetimes, so emulators can expire sessions like the vendors do."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from crmsync.emulators.core.clock import EmulatorClock


@dataclass(slots=True)
class IssuedToken:
    principal: str
    issued_ms: int
    expires_ms: int | None


TokenCheck = Literal["ok", "expired", "invalid"]


class TokenBook:
    """Tokens this emulator issued (plus any static ones), checked against the emulator clock."""

    def __init__(self, clock: EmulatorClock, *, prefix: str = "") -> None:
        self.clock = clock
        self.prefix = prefix
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, principal: str, lifetime_s: float | None, *, token: str | None = None) -> str:
        value = token or self.prefix + secrets.token_urlsafe(32)
        now = self.clock.now_ms()
        expires = None if lifetime_s is None else now + int(lifetime_s * 1000)
        self._tokens[value] = IssuedToken(principal, now, expires)
        return value

    def add_static(self, token: str, principal: str) -> None:
        self._tokens[token] = IssuedToken(principal, self.clock.now_ms(), None)

    def check(self, token: str | None) -> tuple[TokenCheck, IssuedToken | None]:
        if token is None:
            return "invalid", None
        issued = self._tokens.get(token)
        if issued is None:
            return "invalid", None
        if issued.expires_ms is not None and self.clock.now_ms() >= issued.expires_ms:
            return "expired", issued
        return "ok", issued

    def expire(self, token: str) -> bool:
        issued = self._tokens.get(token)
        if issued is None or issued.expires_ms is None:
            return False
        issued.expires_ms = min(issued.expires_ms, self.clock.now_ms())
        return True

    def expire_all(self) -> int:
        """Expire every expiring token (static tokens such as HubSpot private-app tokens never expire)."""
        return sum(1 for token in list(self._tokens) if self.expire(token))
