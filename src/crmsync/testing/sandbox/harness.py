"""The sandbox: three emulators on loopback, users editing them through the vendors' APIs, crmsync's config for them."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, cast

from pydantic import BaseModel
from starlette.applications import Starlette

from crmsync.config import SyncConfig, load_config
from crmsync.emulators import dynamics, hubspot, salesforce
from crmsync.emulators.core.vendor import Vendor
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.emulators.server import ServedApp, serve_in_thread
from crmsync.model.values import ObjectKind
from crmsync.testing.sandbox.config import CONFIG_FILE, SandboxEndpoints, render_config, secret_files
from crmsync.testing.sandbox.control import ControlPlane
from crmsync.testing.sandbox.dynamics import DynamicsUser
from crmsync.testing.sandbox.hubspot import HubSpotUser
from crmsync.testing.sandbox.names import OBJECTS, merge_settings
from crmsync.testing.sandbox.salesforce import SalesforceUser
from crmsync.testing.sandbox.session import Sleep

DEFAULT_STATE_URL = "sqlite:///crmsync.db"  # relative: next to the written crmsync.yaml


class VendorUser(Protocol):
    """What every simulated user can do, whatever the vendor (objects by vendor name or canonical kind)."""

    @property
    def vendor(self) -> str: ...
    @property
    def objects(self) -> Mapping[ObjectKind, str]: ...
    @property
    def control(self) -> ControlPlane: ...
    async def create(self, object: str, fields: Mapping[str, Any]) -> str: ...
    async def update(self, object: str, id: str, fields: Mapping[str, Any]) -> None: ...
    async def delete(self, object: str, id: str) -> None: ...
    async def get(self, object: str, id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None: ...
    async def find(
        self, object: str, field: str, value: object, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]: ...
    async def count(self, object: str) -> int: ...
    async def merge(self, object: str, survivor_id: str, victim_id: str) -> str: ...
    async def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None: ...
    async def dissociate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None: ...
    async def associated(self, from_object: str, from_id: str, to_object: str) -> list[str]: ...
    async def aclose(self) -> None: ...


_MODULES = {"salesforce": salesforce, "hubspot": hubspot, "dynamics": dynamics}


class Sandbox:
    """Three running emulators (Salesforce, HubSpot, Dataverse) with crmsync's external-id fields declared.

        with Sandbox() as sb:                       # or `async with` (starts and stops off the event loop)
            contact = await sb.hubspot.create("contact", {"email": "ada@example.com"})
            config = sb.load_config(tmp_path)       # crmsync.yaml + secrets/ for the three emulators

    `seed` and `records` load the overlapping seed world (`crmsync emulate --seed --records`); without a
    seed the emulators start empty. `settings` overrides emulator settings per vendor (`{"hubspot":
    {"daily_limit": 500}}`); the written config follows the emulators' limits. `sleep` is what the users
    wait with when an API answers 429.
    """

    objects: Mapping[VendorName, Mapping[ObjectKind, str]] = OBJECTS

    def __init__(
        self,
        *,
        seed: int | None = None,
        records: int = 0,
        settings: Mapping[VendorName, Mapping[str, Any]] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if records < 0:
            raise ValueError("records must be zero or more")
        unknown = sorted(set(settings or {}) - set(VENDOR_NAMES))
        if unknown:
            raise ValueError(f"unknown emulator(s) {', '.join(unknown)}; expected {', '.join(VENDOR_NAMES)}")
        self.seed = seed
        self.records = records
        self._settings = {name: dict((settings or {}).get(name, {})) for name in VENDOR_NAMES}
        self._sleep = sleep
        self._servers: list[contextlib.AbstractContextManager[ServedApp]] = []
        self._vendors: dict[VendorName, Vendor] = {}
        self._endpoints: SandboxEndpoints | None = None
        self._users: dict[VendorName, VendorUser] = {}

    def __repr__(self) -> str:
        state = "running" if self._endpoints else "stopped"
        return f"Sandbox(seed={self.seed!r}, records={self.records!r}, {state})"

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Build, seed and serve the three emulators (blocking: from async code use `async with`)."""
        if self._endpoints is not None:
            raise RuntimeError("the sandbox is already running")
        configs: dict[VendorName, BaseModel] = {}
        apps: dict[VendorName, Starlette] = {}
        for name in VENDOR_NAMES:
            module = _MODULES[name]
            configs[name] = module.CONFIG_CLASS.model_validate(merge_settings(name, self._settings[name]))
            apps[name] = module.create_app(configs[name])
            self._vendors[name] = cast(Vendor, apps[name].state.vendor)
            if self.seed is not None and self.records:
                self._vendors[name].seed(self.seed, self.records)
        urls: dict[VendorName, str] = {}
        try:
            for name in VENDOR_NAMES:
                server = serve_in_thread(apps[name])
                urls[name] = server.__enter__().base_url
                self._servers.append(server)
        except BaseException:
            self._stop_servers()
            raise
        self._endpoints = SandboxEndpoints(
            urls["salesforce"],
            urls["hubspot"],
            urls["dynamics"],
            cast(salesforce.SalesforceConfig, configs["salesforce"]),
            cast(hubspot.HubSpotConfig, configs["hubspot"]),
            cast(dynamics.DynamicsConfig, configs["dynamics"]),
        )
        self._users = dict(make_users(self._endpoints, sleep=self._sleep))
        return self

    def stop(self) -> None:
        """Stop the emulators. Users' clients keep no idle connection, so nothing else is left open."""
        self._endpoints = None
        self._users = {}
        self._vendors = {}
        self._stop_servers()

    def _stop_servers(self) -> None:
        servers, self._servers = self._servers, []
        if not servers:
            return
        # Each uvicorn takes a few tenths of a second to wind down: stop the three together.
        with ThreadPoolExecutor(max_workers=len(servers), thread_name_prefix="sandbox-stop") as pool:
            for future in [pool.submit(s.__exit__, None, None, None) for s in servers]:
                future.result()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for user in self._users.values():
            await user.aclose()
        await asyncio.to_thread(self.stop)

    # ---- the emulators and their users --------------------------------------------------------
    @property
    def endpoints(self) -> SandboxEndpoints:
        if self._endpoints is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox() as sb:` or call start()")
        return self._endpoints

    @property
    def urls(self) -> Mapping[VendorName, str]:
        ep = self.endpoints
        return MappingProxyType(
            {"salesforce": ep.salesforce_url, "hubspot": ep.hubspot_url, "dynamics": ep.dynamics_url}
        )

    @property
    def users(self) -> Mapping[VendorName, VendorUser]:
        self.endpoints  # noqa: B018 - raises the not-running error
        return MappingProxyType(self._users)

    def user(self, vendor: VendorName) -> VendorUser:
        return self.users[vendor]

    @property
    def salesforce(self) -> SalesforceUser:
        return cast(SalesforceUser, self.user("salesforce"))

    @property
    def hubspot(self) -> HubSpotUser:
        return cast(HubSpotUser, self.user("hubspot"))

    @property
    def dynamics(self) -> DynamicsUser:
        return cast(DynamicsUser, self.user("dynamics"))

    def emulator(self, vendor: VendorName) -> Vendor:
        """The in-process emulator (its store and clock), for harnesses that seed or inspect without HTTP."""
        self.endpoints  # noqa: B018 - raises the not-running error
        return self._vendors[vendor]

    async def reset(self) -> None:
        """Empty all three emulators (declared fields stay) and clear their faults, statistics and deliveries."""
        await asyncio.gather(*(user.control.reset() for user in self.users.values()))

    # ---- crmsync's configuration ----------------------------------------------------------------
    def config_text(
        self,
        state_url: str,
        *,
        objects_yaml: str = "",
        mappings_yaml: str = "",
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        service: Mapping[str, Any] | None = None,
    ) -> str:
        """crmsync.yaml with connections `salesforce`, `hubspot`, `dynamics` (secrets read from ./secrets/)."""
        return render_config(
            self.endpoints,
            state_url,
            objects_yaml=objects_yaml,
            mappings_yaml=mappings_yaml,
            connections=connections,
            service=service,
        )

    def write_config(
        self,
        directory: Path,
        state_url: str = DEFAULT_STATE_URL,
        *,
        objects_yaml: str = "",
        mappings_yaml: str = "",
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        service: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write crmsync.yaml and its secret files (owner-readable only) into `directory`; returns the yaml's path."""
        text = self.config_text(
            state_url, objects_yaml=objects_yaml, mappings_yaml=mappings_yaml, connections=connections, service=service
        )
        return write_config_files(directory, self.endpoints, text)

    def load_config(
        self,
        directory: Path,
        state_url: str = DEFAULT_STATE_URL,
        *,
        objects_yaml: str = "",
        mappings_yaml: str = "",
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        service: Mapping[str, Any] | None = None,
    ) -> SyncConfig:
        """`write_config`, then crmsync's own loader on the result (ConfigFileError lists any mistake)."""
        path = self.write_config(
            directory,
            state_url,
            objects_yaml=objects_yaml,
            mappings_yaml=mappings_yaml,
            connections=connections,
            service=service,
        )
        return load_config(path, environ={})


def make_users(ep: SandboxEndpoints, *, sleep: Sleep) -> dict[VendorName, SalesforceUser | HubSpotUser | DynamicsUser]:
    """A simulated person per emulator, logged in with its development credentials."""
    sf, hs, dv = ep.salesforce, ep.hubspot, ep.dynamics
    return {
        "salesforce": SalesforceUser(ep.salesforce_url, sf.client_id, sf.client_secret, sleep=sleep),
        "hubspot": HubSpotUser(ep.hubspot_url, hs.private_app_token, sleep=sleep),
        "dynamics": DynamicsUser(ep.dynamics_url, dv.tenant_id, dv.client_id, dv.client_secret, sleep=sleep),
    }


def write_config_files(directory: Path, ep: SandboxEndpoints, config_text: str) -> Path:
    """Write crmsync.yaml and the secret files it reads (owner-readable only) into `directory`; the yaml's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for relative, secret in secret_files(ep).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        os.chmod(path, 0o600)
        path.write_text(secret + "\n", encoding="utf-8")
    config = directory / CONFIG_FILE
    config.write_text(config_text, encoding="utf-8")
    return config


__all__ = ["DEFAULT_STATE_URL", "Sandbox", "VendorUser", "make_users", "write_config_files"]
