"""The dashboard mounted in `crmsync serve`'s app, without any CRM: never open, and clear about why."""

from __future__ import annotations

import httpx
import pytest

from crmsync.config import parse_config
from crmsync.dashboard.access import (
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_FAILURES,
    SIGN_IN_WINDOW_S,
)
from crmsync.service.app import SyncService

TOKEN = "unit-test-token-0123456789"
CONNECTIONS = "connections:\n  hubspot: {vendor: hubspot, access_token: {env: HS_TOKEN}}\n"
WITH_TOKEN = "service:\n  dashboard:\n    tokens: [{name: ops, role: operator, token: {env: DASH}}]\n" + CONNECTIONS


def client(config_text: str) -> httpx.AsyncClient:
    config = parse_config(config_text, environ={"HS_TOKEN": "pat-na1-x", "DASH": TOKEN})
    # No lifespan: the service is "starting", which is also what the dashboard must cope with.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=SyncService(config).app), base_url="http://test")


@pytest.mark.parametrize("path", ["/", "/conflicts", "/errors", "/records?q=x", "/login"])
async def test_without_credentials_configured_every_page_explains_how_to_configure_them(path: str) -> None:
    async with client(CONNECTIONS) as http:
        page = await http.get(path)
    assert page.status_code == 403
    assert "The dashboard is not set up yet" in page.text and "service:" in page.text and "dashboard:" in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/api/overview", "/api/conflicts", "/api/openapi.json"])
async def test_without_credentials_configured_the_api_is_forbidden_even_with_a_token(path: str) -> None:
    async with client(CONNECTIONS) as http:
        answer = await http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden" and "service.dashboard.tokens" in answer.json()["message"]


async def test_posting_a_form_without_credentials_configured_changes_nothing() -> None:
    async with client(CONNECTIONS) as http:
        answer = await http.post("/errors/retry", data={"all": "1"})
    assert answer.status_code == 403


async def test_a_good_token_while_the_service_starts_gets_503() -> None:
    async with client(WITH_TOKEN) as http:
        answer = await http.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 503 and answer.json()["error"] == "unavailable"
        assert (await http.get("/api/whoami", headers={"Authorization": f"Bearer {TOKEN}"})).json() == {
            "name": "ops",
            "role": "operator",
            "via": "token",
        }


async def test_malformed_authorization_and_unknown_tokens_get_401() -> None:
    async with client(WITH_TOKEN) as http:
        for header in (f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"):
            answer = await http.get("/api/whoami", headers={"Authorization": header})
            assert answer.status_code == 401, header
            assert TOKEN not in answer.text


async def test_the_login_page_never_redirects_off_site() -> None:
    async with client(WITH_TOKEN) as http:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            page = await http.get("/login", params={"next": target})
            assert 'name="next" value="/"' in page.text, target
        assert (await http.get("/conflicts")).headers["location"] == "/login?next=%2Fconflicts"


async def test_the_service_endpoints_stay_unauthenticated() -> None:
    async with client(WITH_TOKEN) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/readyz")).status_code == 503  # starting: no lifespan here


async def test_a_client_guessing_tokens_is_throttled_even_with_a_good_one() -> None:
    async with client(WITH_TOKEN) as http:
        for attempt in range(SIGN_IN_FAILURES):
            answer = await http.get("/api/whoami", headers={"Authorization": f"Bearer guess-{attempt}"})
            assert answer.status_code == 401
        throttled = await http.get("/api/whoami", headers={"Authorization": f"Bearer {TOKEN}"})
    assert throttled.status_code == 429 and throttled.json()["error"] == "throttled"
    assert 0 < int(throttled.headers["retry-after"]) <= SIGN_IN_WINDOW_S
    assert TOKEN not in throttled.text


async def test_a_browser_guessing_sign_ins_is_throttled_without_a_check() -> None:
    async with client(WITH_TOKEN) as http:

        async def sign_in(token: str) -> httpx.Response:
            form = await http.get("/login")
            nonce = form.cookies.get(LOGIN_COOKIE) or http.cookies.get(LOGIN_COOKIE)
            return await http.post("/login", data={CSRF_FIELD: nonce, "token": token, "next": "/"})

        for attempt in range(SIGN_IN_FAILURES):
            assert (await sign_in(f"guess-{attempt}")).status_code == 401
        throttled = await sign_in(TOKEN)
        assert throttled.status_code == 429 and "Too many failed sign-ins" in throttled.text
        assert "retry-after" in throttled.headers
        assert SESSION_COOKIE not in http.cookies  # the good token was not even checked
