"""Fixtures: a Salesforce emulator app, an httpx client on it, and a connector signed in with JWT bearer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings
from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app

BASE = "https://sf.test"
V = "/services/data/v60.0"


class Sleeps:
    """An injected sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def emulator_config() -> SalesforceConfig:
    ext = [CustomField(name="Crmsync_Id__c", external_id=True, unique=True, length=64)]
    return SalesforceConfig(
        custom_fields={
            "Account": ext,
            "Contact": [*ext, CustomField(name="Tier__c", type="picklist", picklist_values=["Gold", "Silver"])],
            "Opportunity": ext,
            "Task": ext,
            "Event": ext,
        }
    )


@pytest.fixture
def app(emulator_config: SalesforceConfig) -> Starlette:
    return create_app(emulator_config)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


@pytest.fixture
def credentials(app: Starlette) -> dict[str, Any]:
    creds: dict[str, Any] = app.state.vendor.credentials()
    return creds


@pytest.fixture
def settings(credentials: dict[str, Any]) -> SalesforceSettings:
    return SalesforceSettings(
        auth_flow="jwt_bearer",
        login_url=BASE,
        client_id=credentials["consumer_key"],
        username=credentials["username"],
        private_key_pem=SecretStr(credentials["jwt_private_key_pem"]),
        external_id_fields=dict.fromkeys(("Account", "Contact", "Opportunity", "Task", "Event"), "Crmsync_Id__c"),
        org_id=credentials["org_id"],
    )


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connector(settings: SalesforceSettings, client: httpx.AsyncClient, sleeps: Sleeps) -> SalesforceConnector:
    return SalesforceConnector(settings, connection="sf-test", client=client, sleep=sleeps)


@pytest.fixture
def admin(client: httpx.AsyncClient, credentials: dict[str, Any]) -> Admin:
    return Admin(client, credentials["session_id"])


class Admin:
    """Direct emulator access for arranging a test (the static session; control plane)."""

    def __init__(self, client: httpx.AsyncClient, session: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {session}"}

    async def create(self, sobject: str, body: dict[str, Any]) -> str:
        response = await self.client.post(f"{V}/sobjects/{sobject}", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def update(self, sobject: str, rid: str, body: dict[str, Any]) -> None:
        response = await self.client.patch(f"{V}/sobjects/{sobject}/{rid}", json=body, headers=self.headers)
        assert response.status_code == 204, response.text

    async def delete(self, sobject: str, rid: str) -> None:
        response = await self.client.delete(f"{V}/sobjects/{sobject}/{rid}", headers=self.headers)
        assert response.status_code == 204, response.text

    async def control(self, action: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        response = await self.client.request(method, f"/_emulator/{action}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.control("stats", method="GET")
        return result
