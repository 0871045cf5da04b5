"""A dashboard site per test over one set of emulators for the module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from crmsync.testing.sandbox import Sandbox
from tests.integration.dashboard.harness import Site, platform_sandbox, start_site


@pytest.fixture(scope="module")
def dashboard_sandbox() -> Iterator[Sandbox]:
    with platform_sandbox() as sb:
        yield sb


@pytest.fixture
async def site(dashboard_sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Site]:
    started = await start_site(dashboard_sandbox, tmp_path / "site")
    yield started
    await started.stop()
    await dashboard_sandbox.reset()
