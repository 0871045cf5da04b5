"""Fixtures for the Salesforce emulator unit tests: an app, a client and an authorised header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app

V = "/services/data/v60.0"


@pytest.fixture
def config() -> SalesforceConfig:
    return SalesforceConfig(
        custom_fields={
            "Account": [CustomField(name="Ext_Id__c", external_id=True, unique=True, length=40)],
            "Contact": [
                CustomField(name="Sync_Key__c", external_id=True, length=40),
                CustomField(name="Tier__c", type="picklist", picklist_values=["Gold", "Silver"]),
            ],
        }
    )


@pytest.fixture
def app(config: SalesforceConfig) -> Starlette:
    return create_app(config)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as http:
        yield http


@pytest.fixture
def auth(config: SalesforceConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {config.static_session_token}"}


async def create(client: httpx.AsyncClient, auth: dict[str, str], sobject: str, body: dict[str, object]) -> str:
    response = await client.post(f"{V}/sobjects/{sobject}", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
