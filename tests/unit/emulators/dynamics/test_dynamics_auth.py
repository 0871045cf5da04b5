"""Entra-style token endpoints, OIDC discovery and the Web API's 401s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.dynamics import DynamicsConfig, create_app
from crmsync.emulators.dynamics.testkit import API, asgi_client, fetch_token

CONFIG = DynamicsConfig()


@pytest.fixture
def app() -> Starlette:
    return create_app(CONFIG)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": CONFIG.client_id,
        "client_secret": CONFIG.client_secret,
        "scope": "https://crmsync.crm.dynamics.com/.default",
    }
    form.update(overrides)
    return form


async def test_v2_token_has_entra_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/{CONFIG.tenant_id}/oauth2/v2.0/token", data=_form())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["access_token"].count(".") == 2  # a JWT, as Entra issues


async def test_v1_token_takes_resource_and_answers_strings(client: httpx.AsyncClient) -> None:
    form = _form(resource="https://crmsync.crm.dynamics.com/")
    del form["scope"]
    response = await client.post(f"/{CONFIG.tenant_id}/oauth2/token", data=form)
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == "3599"
    assert body["resource"] == "https://crmsync.crm.dynamics.com/"


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 400, "unauthorized_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "https://crmsync.crm.dynamics.com/user_impersonation"}, 400, "invalid_scope"),
        ({"scope": ""}, 400, "invalid_request"),
    ],
)
async def test_token_errors_use_entra_error_shape(
    client: httpx.AsyncClient, overrides: dict[str, str], status: int, error: str
) -> None:
    response = await client.post(f"/{CONFIG.tenant_id}/oauth2/v2.0/token", data=_form(**overrides))
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith("AADSTS")
    assert isinstance(body["error_codes"], list)


async def test_unknown_tenant_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/not-a-tenant/oauth2/v2.0/token", data=_form())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_tenant"


async def test_openid_configuration_points_back_at_the_emulator(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/{CONFIG.tenant_id}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"] == f"https://crmsync.crm.dynamics.com/{CONFIG.tenant_id}/oauth2/v2.0/token"
    assert body["issuer"].endswith("/v2.0")
    assert "authorization_endpoint" in body


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/accounts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer authorization_uri=")
    assert "resource_id=" in response.headers["www-authenticate"]
    assert response.json()["error"]["code"] == ""


async def test_token_expires_on_the_emulator_clock(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client, CONFIG)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{API}/accounts", headers=headers)).status_code == 200
    await client.post("/_emulator/clock", json={"advance_ms": 3_600_000})
    response = await client.get(f"{API}/accounts", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_expire_token_fault_forces_a_401(client: httpx.AsyncClient) -> None:
    token = await fetch_token(client, CONFIG)
    plan = {"rules": [{"kind": "expire_token", "path": "/api/data", "times": 1}]}
    assert (await client.put("/_emulator/faults", json=plan)).status_code == 200
    response = await client.get(f"{API}/accounts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
