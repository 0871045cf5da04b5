"""Helpers for tests and tools driving the emulator in-process: an httpx client with a bearer token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette

from crmsync.emulators.dynamics.config import DynamicsConfig

ORG_URL = "https://crmsync.crm.dynamics.com"
API = "/api/data/v9.2"


def asgi_client(app: Starlette, base_url: str = ORG_URL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def fetch_token(client: httpx.AsyncClient, config: DynamicsConfig | None = None) -> str:
    config = config or DynamicsConfig()
    response = await client.post(
        f"/{config.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "scope": f"{client.base_url}/.default",
        },
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


@contextlib.asynccontextmanager
async def authorised_client(app: Starlette, config: DynamicsConfig | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests carry a fresh token and the headers Dataverse clients send."""
    async with asgi_client(app) as client:
        token = await fetch_token(client, config)
        client.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
            }
        )
        yield client
