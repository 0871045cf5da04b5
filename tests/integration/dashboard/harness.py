"""A running `crmsync serve` with its dashboard, over three emulators, holding a parked conflict and a sync error.

Shared by the integration tests (HTTP) and the browser tests. The story is set up before the service starts,
so its startup poll finds it deterministically: Ada Lovelace synced everywhere and then given two different
titles in Salesforce and HubSpot (title's policy is manual: a conflict), and Grace, created in HubSpot without
a last name, which Salesforce refuses (a sync error) and Dataverse takes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from crmsync.config.values import SyncConfig
from crmsync.dashboard.passwords import hash_password
from crmsync.engine.connections import open_connectors
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.service.app import SyncService
from crmsync.service.emulator_webhooks import register_emulator_webhooks
from crmsync.store import Store, open_store
from crmsync.testing.sandbox import Sandbox
from tests.integration.service.conftest import Passes, eventually, start_server

OPERATOR_TOKEN = "dashboard-operator-token-for-tests-0001"
VIEWER_TOKEN = "dashboard-viewer-token-for-tests-0002"
SESSION_SECRET = "dashboard-session-secret-for-tests-0003"
VIEWER_PASSWORD = "correct horse battery"
VIEWER_HASH = hash_password(VIEWER_PASSWORD)
SECRETS = (OPERATOR_TOKEN, VIEWER_TOKEN, SESSION_SECRET, VIEWER_PASSWORD, VIEWER_HASH)
"""What must never appear in a page, an API response or a log line."""
OBJECTS_YAML = "contact: {fields: {title: {policy: manual}}}"
ADA_EMAIL = "ada@example.com"
GRACE_EMAIL = "grace@example.com"


def dashboard_settings() -> dict[str, Any]:
    return {
        "tokens": [
            {"name": "ops", "role": "operator", "token": {"file": "secrets/dashboard_ops"}},
            {"name": "watcher", "role": "viewer", "token": {"file": "secrets/dashboard_viewer"}},
        ],
        "users": [{"username": "vera", "role": "viewer", "password_hash": {"file": "secrets/vera_hash"}}],
        "session_secret": {"file": "secrets/dashboard_session"},
    }


def write_secrets(directory: Path) -> None:
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    for name, value in (
        ("dashboard_ops", OPERATOR_TOKEN),
        ("dashboard_viewer", VIEWER_TOKEN),
        ("vera_hash", VIEWER_HASH),
        ("dashboard_session", SESSION_SECRET),
    ):
        path = secrets / name
        path.write_text(value + "\n", encoding="utf-8")
        os.chmod(path, 0o600)


@dataclass(frozen=True, slots=True)
class Contact:
    canonical_id: str
    salesforce: str | None
    hubspot: str
    dynamics: str | None


@dataclass
class Site:
    """The service and its story; `http` sends no credentials (add them per request)."""

    url: str
    sb: Sandbox
    config: SyncConfig
    store: Store
    service: SyncService
    server: uvicorn.Server
    task: asyncio.Task[None]
    http: httpx.AsyncClient
    ada: Contact
    grace: Contact

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

    @property
    def viewer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {VIEWER_TOKEN}"}

    @property
    def progress(self) -> Passes:
        """The service's finished passes: what a test of its effects waits on."""
        return Passes(self.service)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await self.http.aclose()
        await self.store.aclose()

    async def conflict_id(self) -> int:
        found = (await self.http.get("/api/conflicts", headers=self.operator)).json()
        (conflict,) = found
        return int(conflict["id"])

    async def error_ids(self) -> list[int]:
        body = (await self.http.get("/api/errors", headers=self.operator)).json()
        return [error["id"] for group in body["groups"] for error in group["errors"]]

    async def titles(self) -> dict[str, object]:
        """Ada's title as each CRM holds it now."""
        sf = await self.sb.salesforce.get("contact", self.ada.salesforce or "", ["Title"])
        hs = await self.sb.hubspot.get("contact", self.ada.hubspot, ["jobtitle"])
        dv = await self.sb.dynamics.get("contact", self.ada.dynamics or "", ["jobtitle"])
        return {
            "salesforce": sf and sf.get("Title"),
            "hubspot": hs and hs.get("jobtitle"),
            "dynamics": dv and dv.get("jobtitle"),
        }

    async def grace_in_salesforce(self) -> dict[str, Any] | None:
        found = await self.sb.salesforce.find("contact", "Email", GRACE_EMAIL, ["FirstName", "LastName"])
        return found[0] if found else None


async def _links(store: Store, sb: Sandbox, hubspot_id: str) -> Contact:
    async with store.read() as tx:
        canonical = await tx.links.canonical_id("hubspot", sb.objects["hubspot"]["contact"], hubspot_id)
        assert canonical is not None, f"hubspot contact {hubspot_id} is not linked"
        return Contact(
            canonical,
            await tx.links.remote_id(canonical, "salesforce"),
            hubspot_id,
            await tx.links.remote_id(canonical, "dynamics"),
        )


async def start_site(
    sb: Sandbox, directory: Path, *, dashboard: Mapping[str, Any] | None = None, webhooks: bool = False
) -> Site:
    """Set the story up in the reset emulators, then serve; returns once the startup poll has run."""
    await sb.reset()
    write_secrets(directory)
    service_settings = {"poll_interval_s": 3600.0, "dashboard": dict(dashboard or dashboard_settings())}
    config = sb.load_config(directory, objects_yaml=OBJECTS_YAML, service=service_settings)
    store = await open_store(config.state_url)
    ada_id = await sb.hubspot.create(
        "contact", {"firstname": "Ada", "lastname": "Lovelace", "email": ADA_EMAIL, "jobtitle": "Analyst"}
    )
    async with open_connectors(config) as connectors:
        await SyncRunner(config, store, connectors).run(RunOptions(full=True))
    ada = await _links(store, sb, ada_id)
    assert ada.salesforce is not None and ada.dynamics is not None
    await sb.salesforce.update("contact", ada.salesforce, {"Title": "Director"})
    await sb.hubspot.update("contact", ada.hubspot, {"jobtitle": "Chief Analyst"})
    grace_id = await sb.hubspot.create("contact", {"firstname": "Grace", "email": GRACE_EMAIL})

    service = SyncService(config, store=store)
    server, task, url = await start_server(service.app)
    if webhooks:
        async with httpx.AsyncClient(timeout=30) as client:
            await register_emulator_webhooks(config, url, client)
    http = httpx.AsyncClient(base_url=url, timeout=30)

    async def polled() -> bool:
        body = (await http.get("/readyz")).json()
        return int(body.get("passes", 0)) >= 1

    await eventually(polled, after=Passes(service), what="the service's startup poll")
    grace = await _links(store, sb, grace_id)
    return Site(url, sb, config, store, service, server, task, http, ada, grace)


def platform_sandbox() -> Sandbox:
    """Emulators that behave as the real platforms do for this story (Dataverse's Web API takes a contact
    without a last name; the emulator enforces it by default)."""
    return Sandbox(settings={"dynamics": {"enforce_application_required": False}})


__all__ = [
    "ADA_EMAIL",
    "GRACE_EMAIL",
    "OPERATOR_TOKEN",
    "SECRETS",
    "SESSION_SECRET",
    "VIEWER_PASSWORD",
    "VIEWER_TOKEN",
    "Contact",
    "Site",
    "platform_sandbox",
    "start_site",
]
