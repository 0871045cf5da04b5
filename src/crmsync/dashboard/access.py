"""Who may use the dashboard: API tokens, password sign-ins, signed session cookies, roles and CSRF tokens.

Every secret is compared in constant time, and a session names its credential by an HMAC fingerprint, so
rotating a token or a password hash ends the sessions signed in with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from crmsync.config.schema import DashboardRole, DashboardSection
from crmsync.dashboard.passwords import PasswordHashError, hash_password, verify_password

SESSION_COOKIE = "crmsync_session"
LOGIN_COOKIE = "crmsync_login"  # the login form's double-submit CSRF value
FLASH_COOKIE = "crmsync_flash"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"

Via = Literal["token", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone signed in: a token's name or a username, their role, and how they proved it."""

    name: str
    role: DashboardRole
    via: Via
    csrf: str | None = None  # a session's synchronizer token; None for Bearer-token requests

    @property
    def operator(self) -> bool:
        return self.role == "operator"


class Signer:
    """HMAC-SHA256 signed, expiring JSON values (cookies); the key never leaves the process."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def sign(self, purpose: str, value: dict[str, Any], max_age_s: float) -> str:
        body = {**value, "p": purpose, "e": int(self._clock() + max_age_s)}
        payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload)}"

    def unsign(self, purpose: str, text: str | None) -> dict[str, Any] | None:
        """The value when the signature is good, the purpose matches and it has not expired; else None."""
        if not text or "." not in text:
            return None
        payload, _, mac = text.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("p") != purpose or not isinstance(body.get("e"), int):
            return None
        return body if body["e"] > self._clock() else None

    def fingerprint(self, secret: str) -> str:
        return hmac.new(self._key, b"credential:" + secret.encode(), hashlib.sha256).hexdigest()[:32]

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


SIGN_IN_FAILURES = 5
"""Failed sign-ins (a wrong password or token) a client may make within `SIGN_IN_WINDOW_S`."""
SIGN_IN_WINDOW_S = 300.0
SIGN_IN_CLIENTS = 10_000
"""Clients whose failures are remembered: past it the oldest are forgotten, so memory stays bounded."""


class FailedSignIns:
    """Slows password and token guessing: a client with too many recent failures is refused without a check.

    Keyed by the client's address, not the username: a lock per username would let anyone lock a real
    user out. A refused attempt also skips the password hash, which is slow on purpose.
    """

    def __init__(
        self,
        *,
        limit: int = SIGN_IN_FAILURES,
        window_s: float = SIGN_IN_WINDOW_S,
        capacity: int = SIGN_IN_CLIENTS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.capacity = capacity
        self._monotonic = monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it may try now."""
        recent = self._recent(client)
        if len(recent) < self.limit:
            return None
        return max(recent[0] + self.window_s - self._monotonic(), 1.0)

    def failed(self, client: str) -> None:
        recent = self._recent(client)
        recent.append(self._monotonic())
        self._failures[client] = recent
        self._failures.move_to_end(client)
        while len(self._failures) > self.capacity:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float]:
        recent = self._failures.get(client, deque())
        cutoff = self._monotonic() - self.window_s
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            self._failures.pop(client, None)
        return recent


class Access:
    """Checks credentials against `service.dashboard` and issues the session cookies of signed-in browsers."""

    def __init__(
        self,
        settings: DashboardSection,
        *,
        clock: Callable[[], float] = time.time,
        failures: FailedSignIns | None = None,
    ) -> None:
        self.settings = settings
        self.failures = failures or FailedSignIns()
        secret = settings.session_secret
        key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
        self.signer = Signer(hashlib.sha256(b"crmsync-dashboard:" + key).digest(), clock=clock)
        self._tokens = {t.name: t for t in settings.tokens}
        self._users = {u.username: u for u in settings.users}
        self._decoy: str | None = None  # a hash checked for unknown usernames, so timing does not tell them apart

    @property
    def configured(self) -> bool:
        return self.settings.configured

    def bearer(self, token: str) -> Principal | None:
        """The token's principal; every configured token is compared, so timing says nothing of which matched."""
        found = None
        for entry in self.settings.tokens:
            if hmac.compare_digest(entry.token.get_secret_value().encode(), token.encode()):
                found = entry
        return Principal(found.name, found.role, "token") if found is not None else None

    def sign_in(
        self, *, token: str | None = None, username: str | None = None, password: str | None = None
    ) -> str | None:
        """A session cookie value for a good token or username and password; None otherwise."""
        if token:
            principal = self.bearer(token)
            if principal is None:
                return None
            return self._session("t", principal.name, self._tokens[principal.name].token.get_secret_value())
        if not username or not password:
            return None
        user = self._users.get(username)
        stored = user.password_hash.get_secret_value() if user is not None else self._decoy_hash()
        try:
            good = verify_password(password, stored)
        except PasswordHashError:
            good = False
        if user is None or not good:
            return None
        return self._session("u", username, stored)

    def session(self, cookie: str | None) -> Principal | None:
        """The principal of a session cookie while it is valid and its credential is still configured unchanged."""
        body = self.signer.unsign("session", cookie)
        if body is None:
            return None
        kind, name, fingerprint, csrf = body.get("k"), body.get("n"), body.get("f"), body.get("c")
        if not isinstance(name, str) or not isinstance(fingerprint, str) or not isinstance(csrf, str):
            return None
        if kind == "t" and name in self._tokens:
            current, role = self._tokens[name].token.get_secret_value(), self._tokens[name].role
        elif kind == "u" and name in self._users:
            current, role = self._users[name].password_hash.get_secret_value(), self._users[name].role
        else:
            return None
        if not hmac.compare_digest(fingerprint, self.signer.fingerprint(current)):
            return None
        return Principal(name, role, "session", csrf)

    def csrf_ok(self, principal: Principal, sent: str | None) -> bool:
        """Bearer requests need no CSRF token (a browser never sends one by itself); sessions must echo theirs."""
        if principal.via == "token":
            return True
        return principal.csrf is not None and sent is not None and hmac.compare_digest(principal.csrf, sent)

    def _session(self, kind: str, name: str, credential: str) -> str:
        value = {"k": kind, "n": name, "f": self.signer.fingerprint(credential), "c": secrets.token_urlsafe(24)}
        return self.signer.sign("session", value, self.settings.session_max_age_s)

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_urlsafe(16))
        return self._decoy


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "FLASH_COOKIE",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "SIGN_IN_FAILURES",
    "SIGN_IN_WINDOW_S",
    "Access",
    "FailedSignIns",
    "Principal",
    "Signer",
]
