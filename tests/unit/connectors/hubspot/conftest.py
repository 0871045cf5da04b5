"""Fixtures: a fresh HubSpot emulator, an in-process client to it, and connectors built on that client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings
from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator, create_app

BASE = "http://hubspot.test"
TOKEN = HubSpotConfig().private_app_token
# Generous emulator limits: unit tests exercise the connector's logic, not the vendor's throttling
# (limit behaviour has its own tests, which set tight limits on purpose).
ROOMY = HubSpotConfig(ten_second_limit=1_000_000, search_per_second=100_000)


class Sleeps:
    """Records retry waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def app() -> Starlette:
    return create_app(ROOMY)


@pytest.fixture
def vendor(app: Starlette) -> HubSpotEmulator:
    found: HubSpotEmulator = app.state.vendor
    return found


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def settings(**overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "access_token": SecretStr(TOKEN),
        "ten_second_limit": 100_000,
        "search_per_second": 100_000,
        "lookback_s": 0.0,
    }
    values.update(overrides)
    return HubSpotSettings(**values)


MakeConnector = Callable[..., HubSpotConnector]


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps) -> MakeConnector:
    def build(**overrides: Any) -> HubSpotConnector:
        return HubSpotConnector(settings(**overrides), connection="hs-test", client=client, sleep=sleeps)

    return build


@pytest.fixture
def connector(make: MakeConnector) -> HubSpotConnector:
    return make()


async def control(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    response = await client.request(method, "/_emulator" + (f"/{path}" if path else ""), json=body)
    assert response.status_code < 300, response.text
    return response.json()


async def api(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    """A direct vendor call, as another integration or a user would make it."""
    return await client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
