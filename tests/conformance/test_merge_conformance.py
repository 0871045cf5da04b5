"""The generic merge case (`cases_write.merge_or_refuse`) for every built-in connector, against its emulator."""

from __future__ import annotations

import pytest

from crmsync.testing import ConformanceTarget
from crmsync.testing.cases_write import merge_or_refuse
from crmsync.testing.targets import builtin_targets


@pytest.mark.parametrize("target", builtin_targets(), ids=lambda t: t.vendor)
async def test_a_merge_is_the_vendors_merge_or_refused_alone(target: ConformanceTarget) -> None:
    await merge_or_refuse(target, "asgi")
