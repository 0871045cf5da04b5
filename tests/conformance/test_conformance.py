"""The generic conformance suite, run for every built-in connector against its emulator.

ASGI transport for every case; the fault profiles also over real loopback (drops only show there).
"""

from __future__ import annotations

import pytest

from crmsync.testing import Case, ConformanceTarget, Transport
from crmsync.testing.pytest_plugin import conformance_params
from crmsync.testing.targets import builtin_targets


@pytest.mark.parametrize(("target", "case", "transport"), conformance_params(builtin_targets()))
async def test_conformance(target: ConformanceTarget, case: Case, transport: Transport) -> None:
    await case.func(target, transport)
