"""Dashboard access: tokens and users by role, signed sessions that end with their credential, CSRF, constant time."""

from __future__ import annotations

from pydantic import SecretStr

from crmsync.config.schema import DashboardSection, DashboardToken, DashboardUser
from crmsync.dashboard.access import Access, FailedSignIns, Principal, Signer
from crmsync.dashboard.passwords import hash_password

OPS = "ops-token-0123456789abcdef"
VIEW = "view-token-0123456789abcdef"
ADA_HASH = hash_password("lovelace-1815")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def settings(*, ops: str = OPS, ada_hash: str = ADA_HASH, secret: str | None = "k" * 32) -> DashboardSection:
    return DashboardSection(
        tokens=(
            DashboardToken(name="ops", role="operator", token=SecretStr(ops)),
            DashboardToken(name="ro", role="viewer", token=SecretStr(VIEW)),
        ),
        users=(DashboardUser(username="ada", role="operator", password_hash=SecretStr(ada_hash)),),
        session_secret=SecretStr(secret) if secret is not None else None,
        session_max_age_s=600,
    )


def test_bearer_tokens_map_to_their_names_and_roles() -> None:
    access = Access(settings())
    assert access.bearer(OPS) == Principal("ops", "operator", "token")
    assert access.bearer(VIEW) == Principal("ro", "viewer", "token")
    assert access.bearer(OPS + "x") is None
    assert access.bearer("") is None


def test_nothing_configured_means_nobody() -> None:
    access = Access(DashboardSection())
    assert not access.configured
    assert access.bearer(OPS) is None
    assert access.sign_in(token=OPS) is None


def test_a_token_sign_in_gives_a_session_with_a_csrf_token_and_no_secret() -> None:
    access = Access(settings())
    cookie = access.sign_in(token=VIEW)
    assert cookie is not None and VIEW not in cookie
    who = access.session(cookie)
    assert who is not None and (who.name, who.role, who.via) == ("ro", "viewer", "session")
    assert who.csrf and access.csrf_ok(who, who.csrf)
    assert not access.csrf_ok(who, None) and not access.csrf_ok(who, who.csrf + "x")


def test_bearer_requests_need_no_csrf_token() -> None:
    access = Access(settings())
    who = access.bearer(OPS)
    assert who is not None and access.csrf_ok(who, None)


def test_a_password_sign_in_checks_the_hash() -> None:
    access = Access(settings())
    assert access.sign_in(username="ada", password="wrong") is None
    assert access.sign_in(username="nobody", password="lovelace-1815") is None
    cookie = access.sign_in(username="ada", password="lovelace-1815")
    who = access.session(cookie)
    assert who is not None and (who.name, who.role) == ("ada", "operator")


def test_a_session_expires() -> None:
    clock = Clock()
    access = Access(settings(), clock=clock)
    cookie = access.sign_in(token=OPS)
    clock.now += 599
    assert access.session(cookie) is not None
    clock.now += 2
    assert access.session(cookie) is None


def test_a_tampered_or_foreign_cookie_is_refused() -> None:
    access = Access(settings())
    cookie = access.sign_in(token=OPS)
    assert cookie is not None
    payload, _, mac = cookie.rpartition(".")
    assert access.session(payload + "." + mac[::-1]) is None
    assert access.session("garbage") is None
    assert access.session(None) is None
    other = Access(settings(secret="z" * 32))
    assert other.session(cookie) is None


def test_rotating_a_credential_ends_its_sessions() -> None:
    cookie = Access(settings()).sign_in(token=OPS)
    assert Access(settings()).session(cookie) is not None  # same key and token: still good after a restart
    assert Access(settings(ops="rotated-0123456789abcdef")).session(cookie) is None
    ada = Access(settings()).sign_in(username="ada", password="lovelace-1815")
    assert Access(settings(ada_hash=hash_password("new-password"))).session(ada) is None


def test_without_a_session_secret_sessions_last_for_the_process_only() -> None:
    first = Access(settings(secret=None))
    cookie = first.sign_in(token=OPS)
    assert first.session(cookie) is not None
    assert Access(settings(secret=None)).session(cookie) is None


def test_signed_values_are_bound_to_their_purpose() -> None:
    signer = Signer(b"key", clock=lambda: 100.0)
    flash = signer.sign("flash", {"m": "hello"}, 60)
    assert signer.unsign("flash", flash) == {"m": "hello", "p": "flash", "e": 160}
    assert signer.unsign("session", flash) is None


def test_failed_sign_ins_throttle_a_client_until_its_failures_age_out() -> None:
    clock = Clock()
    failures = FailedSignIns(limit=3, window_s=60.0, monotonic=clock)
    for _ in range(3):
        assert failures.retry_after("10.0.0.1") is None
        failures.failed("10.0.0.1")
    assert failures.retry_after("10.0.0.1") == 60.0
    assert failures.retry_after("10.0.0.2") is None  # another client is not held back
    clock.now += 30
    assert failures.retry_after("10.0.0.1") == 30.0
    clock.now += 30
    assert failures.retry_after("10.0.0.1") is None  # the oldest failure aged out


def test_a_successful_sign_in_forgets_the_clients_failures() -> None:
    failures = FailedSignIns(limit=2, monotonic=Clock())
    failures.failed("10.0.0.1")
    failures.succeeded("10.0.0.1")
    failures.failed("10.0.0.1")
    assert failures.retry_after("10.0.0.1") is None


def test_failed_sign_ins_remember_a_bounded_number_of_clients() -> None:
    failures = FailedSignIns(limit=1, capacity=2, monotonic=Clock())
    for client in ("a", "b", "c"):
        failures.failed(client)
    assert failures.retry_after("a") is None  # forgotten: the oldest past the capacity
    assert failures.retry_after("b") is not None and failures.retry_after("c") is not None
