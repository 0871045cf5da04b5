"""pytest glue: parametrize the generic conformance cases over targets and transports.

    from crmsync.testing.pytest_plugin import conformance_params

    @pytest.mark.parametrize(("target", "case", "transport"), conformance_params([MyTarget()]))
    async def test_conformance(target, case, transport):
        await case.func(target, transport)

Cases a target declares unsupported are skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from crmsync.testing.conformance import ConformanceTarget, cases_for


def conformance_params(targets: Sequence[ConformanceTarget]) -> list[Any]:
    """One `pytest.param(target, case, transport)` per case, target and transport, with readable ids."""
    params: list[Any] = []
    for target in targets:
        for case, transport, reason in cases_for(target):
            marks = [pytest.mark.skip(reason=f"{target.vendor}: {reason}")] if reason else []
            params.append(
                pytest.param(target, case, transport, id=f"{target.vendor}-{case.name}-{transport}", marks=marks)
            )
    return params
