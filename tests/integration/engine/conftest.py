"""Fixtures for the engine's integration tests: sandboxes of the three emulators and a fresh engine state per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from crmsync.config.values import SyncConfig
from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine.connections import open_connectors
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.model.values import CanonicalValue, ObjectKind
from crmsync.store import Conflict, Store, SyncError, open_store
from crmsync.testing.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture(scope="module")
def roomy_sandbox() -> Iterator[Sandbox]:
    # Hundreds of short syncs in a row, on frozen clocks: HubSpot's rate windows (5 searches a second) would make
    # the connector wait most of the time, and never reopen while the clock stands still.
    with Sandbox(settings={"hubspot": {"search_per_second": 10_000, "ten_second_limit": 1_000_000}}) as sb:
        yield sb


@dataclass
class Crm:
    """The engine under test, configured for the sandbox, with the questions scenario tests ask of its state."""

    sb: Sandbox
    config: SyncConfig
    store: Store

    async def sync(self, **options: object) -> RunReport:
        async with open_connectors(self.config) as connectors:
            runner = SyncRunner(self.config, self.store, connectors)
            return await runner.run(RunOptions(**options))  # type: ignore[arg-type]

    async def canonical(self, kind: ObjectKind, connection: str, remote_id: str) -> str | None:
        async with self.store.read() as tx:
            return await tx.links.canonical_id(connection, self.sb.objects[_vendor(connection)][kind], remote_id)

    async def remote(self, canonical_id: str, connection: str) -> str | None:
        async with self.store.read() as tx:
            return await tx.links.remote_id(canonical_id, connection)

    async def twin(self, kind: ObjectKind, connection: str, remote_id: str, other: str) -> str:
        """The remote id in `other` of the record `remote_id` in `connection` (asserts it is linked)."""
        canonical_id = await self.canonical(kind, connection, remote_id)
        assert canonical_id is not None, f"{connection} {kind} {remote_id} is not linked"
        found = await self.remote(canonical_id, other)
        assert found is not None, f"{connection} {kind} {remote_id} has no counterpart in {other}"
        return found

    async def golden(self, canonical_id: str) -> dict[str, CanonicalValue]:
        async with self.store.read() as tx:
            stored = await tx.records.get(canonical_id)
        assert stored is not None
        return dict(stored.record.fields)

    async def errors(self) -> list[SyncError]:
        async with self.store.read() as tx:
            return await tx.errors.list()

    async def conflicts(self) -> list[Conflict]:
        async with self.store.read() as tx:
            return await tx.conflicts.list()


class CrmFactory(Protocol):
    async def __call__(
        self,
        objects_yaml: str = "",
        mappings_yaml: str = "",
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Crm: ...


_VENDORS: dict[str, VendorName] = {name: name for name in VENDOR_NAMES}  # connections are named after vendors


def _vendor(connection: str) -> VendorName:
    return _VENDORS[connection]


@pytest.fixture
async def crm_factory(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[CrmFactory]:
    await sandbox.reset()
    made: list[Store] = []

    async def make(
        objects_yaml: str = "",
        mappings_yaml: str = "",
        connections: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Crm:
        directory = tmp_path / f"crm{len(made)}"
        config = sandbox.load_config(
            directory, objects_yaml=objects_yaml, mappings_yaml=mappings_yaml, connections=connections
        )
        store = await open_store(config.state_url)
        made.append(store)
        return Crm(sandbox, config, store)

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
async def crm(crm_factory: CrmFactory) -> Crm:
    return await crm_factory()
