"""Fixtures: a fresh HubSpot emulator app and an authenticated in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator, create_app

TOKEN = HubSpotConfig().private_app_token
BASE = "http://hubspot.test"


@pytest.fixture
def app() -> Starlette:
    return create_app()


@pytest.fixture
def vendor(app: Starlette) -> HubSpotEmulator:
    found: HubSpotEmulator = app.state.vendor
    return found


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers) as c:
        yield c
