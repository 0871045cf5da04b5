"""A first full sync over three seeded emulators makes exactly the write calls the vendor batch sizes allow.

Small vendor batches and small delivery rounds make the real proportions at a test's scale: many rounds per
outbox, each mostly creates with a few updates (records that already existed elsewhere). The calls are
counted by the emulators themselves (`/_emulator/stats`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from crmsync.emulators.registry import VENDOR_NAMES, VendorName
from crmsync.engine import deliver
from crmsync.engine.connections import open_connectors
from crmsync.engine.report import RunReport
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.model.values import ObjectKind
from crmsync.store import open_store
from crmsync.testing.sandbox import Sandbox

KINDS: tuple[ObjectKind, ...] = ("company", "contact")
OBJECTS_YAML = """
company: {}
contact: {}
"""
BATCH = {"salesforce": 10, "hubspot": 10, "dynamics": 20}
CONNECTIONS: dict[str, dict[str, Any]] = {
    "salesforce": {"write_batch_size": BATCH["salesforce"]},
    "hubspot": {"batch_size": BATCH["hubspot"]},
    "dynamics": {"batch_size": BATCH["dynamics"]},
}
ROUND = 60  # writes per delivery round: a multiple of every batch size above, as the real 1,000 is of theirs


@pytest.fixture(scope="module")
def seeded() -> Iterator[Sandbox]:
    # ~60 companies and ~300 contacts per CRM, overlapping (the seed world shares people between CRMs).
    with Sandbox(seed=3, records=600, settings={"hubspot": {"ten_second_limit": 10_000}}) as sb:
        yield sb


def _is_write(vendor: str, operation: str) -> bool:
    """Record writes only: Salesforce collections, HubSpot object batch writes, Dataverse `$batch`."""
    if vendor == "salesforce":
        return operation.startswith("collections")
    if vendor == "hubspot":
        return ".batch." in operation and not operation.startswith("associations") and ".batch.read" not in operation
    return operation == "POST /$batch"


def _minimum(vendor: VendorName, report: RunReport) -> int:
    """ceil(writes / batch) per object and operation; a Dataverse `$batch` carries creates and updates together."""
    groups = [("created", "updated")] if vendor == "dynamics" else [("created",), ("updated",)]
    return sum(
        math.ceil(sum(report.counts.get((kind, vendor, what), 0) for what in group) / BATCH[vendor])
        for kind in KINDS
        for group in groups
    )


def _write_calls(vendor: str, stats: Mapping[str, Any]) -> int:
    return sum(int(op["calls"]) for name, op in stats["operations"].items() if _is_write(vendor, name))


async def test_a_first_full_sync_makes_the_minimum_write_calls_per_vendor(
    seeded: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliver, "BATCH", ROUND)
    monkeypatch.setattr(deliver, "ROUND_JOBS", 3 * ROUND)
    config = seeded.load_config(tmp_path, objects_yaml=OBJECTS_YAML, connections=CONNECTIONS)
    store = await open_store(config.state_url)
    try:
        for user in seeded.users.values():
            await user.control.reset_stats()
        async with open_connectors(config) as connectors:
            report = await SyncRunner(config, store, connectors).run(RunOptions(full=True, kinds=KINDS))
        stats = {vendor: await seeded.user(vendor).control.stats() for vendor in VENDOR_NAMES}
    finally:
        await store.aclose()

    assert report.total("failed") == 0 and report.total("retrying") == 0
    for vendor in VENDOR_NAMES:
        # Several rounds per outbox, and updates among the creates: the case that made part-filled calls.
        assert report.counts.get(("contact", vendor, "created"), 0) > 3 * ROUND, vendor
        assert report.counts.get(("contact", vendor, "updated"), 0) > 0, vendor
    made = {vendor: _write_calls(vendor, stats[vendor]) for vendor in VENDOR_NAMES}
    least = {vendor: _minimum(vendor, report) for vendor in VENDOR_NAMES}
    assert made == least
