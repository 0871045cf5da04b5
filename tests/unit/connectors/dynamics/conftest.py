"""Fixtures: a Dataverse emulator with `new_crmsyncid` alternate keys, and a connector wired to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.dynamics import TABLES, DynamicsConnector, DynamicsSettings
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app

ORG_URL = "https://crmsync.crm.dynamics.com"
EXTERNAL_ID = "new_crmsyncid"


class Sleeps:
    """A `sleep` that records the waits instead of sleeping, and the fake monotonic clock they advance."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def emulator_config(**overrides: Any) -> DynamicsConfig:
    column = CustomColumn(name=EXTERNAL_ID, type="String", max_length=100, alternate_key=True)
    return DynamicsConfig(custom_columns={name: [column] for name in TABLES}, **overrides)


def settings_for(config: DynamicsConfig, **overrides: Any) -> DynamicsSettings:
    values: dict[str, Any] = {
        "org_url": ORG_URL,
        "authority": ORG_URL,
        "tenant_id": config.tenant_id,
        "client_id": config.client_id,
        "client_secret": SecretStr(config.client_secret),
        "external_ids": dict.fromkeys(TABLES, EXTERNAL_ID),
        **overrides,
    }
    return DynamicsSettings(**values)


@pytest.fixture
def config() -> DynamicsConfig:
    return emulator_config()


@pytest.fixture
def app(config: DynamicsConfig) -> Starlette:
    return create_app(config)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORG_URL) as c:
        yield c


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def connector(config: DynamicsConfig, client: httpx.AsyncClient, sleeps: Sleeps) -> DynamicsConnector:
    return DynamicsConnector(
        settings_for(config), connection="dv-test", client=client, sleep=sleeps, clock=sleeps.clock
    )


async def control(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    response = await client.request(method, f"/_emulator/{path}", json=body)
    assert response.status_code < 300, response.text
    return response.json()
