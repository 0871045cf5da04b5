"""A dry run's plan: its totals count every write the real run then makes, however few of them it lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmsync.engine import report as run_report
from crmsync.engine.connections import open_connectors
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.scratch import scratch_copy
from tests.integration.engine.conftest import Crm


async def dry_run(crm: Crm, tmp_path: Path) -> RunReport:
    scratch = await scratch_copy(crm.store, tmp_path)  # as `crmsync sync --dry-run` runs
    try:
        async with open_connectors(crm.config) as connectors:
            return await SyncRunner(crm.config, scratch, connectors).run(RunOptions(dry_run=True, kinds=("contact",)))
    finally:
        await scratch.aclose()


async def test_the_plan_counts_every_write_beyond_the_listed_ones(
    crm: Crm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        await crm.sb.salesforce.create("contact", {"LastName": f"Plan{n}", "Email": f"plan{n}@cap.example"})
    monkeypatch.setattr(run_report, "PLAN_CAP", 3)

    planned = await dry_run(crm, tmp_path)
    assert len(planned.plan) == 3  # the cap bounds what is held
    assert planned.plan_counts == {("contact", "hubspot", "create"): 4, ("contact", "dynamics", "create"): 4}
    assert planned.plan_total == 8

    real = await crm.sync(kinds=("contact",))
    assert real.total("created") == planned.plan_total
