"""A run that read or wrote many records refreshes the state's statistics, per connection read and after writing."""

from __future__ import annotations

import pytest

from crmsync.engine import runner
from crmsync.store import Store
from tests.integration.engine.conftest import Crm


async def test_statistics_are_refreshed_after_each_large_read_and_large_delivery(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await crm.sb.hubspot.create("contact", {"lastname": f"Stats{n}", "email": f"stats{n}@stats.example"})
    refreshed: list[int] = []

    async def counted(store: Store) -> None:
        refreshed.append(1)

    monkeypatch.setattr(Store, "refresh_statistics", counted)
    monkeypatch.setattr(runner, "STATISTICS_AFTER", 3)
    report = await crm.sync(kinds=["contact"])
    assert report.total("read", "contact") == 3  # HubSpot's three only: the other CRMs start empty
    # HubSpot's read (3 records), then the delivery of 6 creates to Salesforce and Dataverse; the empty reads
    # of Salesforce and Dataverse refresh nothing.
    assert len(refreshed) == 2

    refreshed.clear()
    monkeypatch.setattr(runner, "STATISTICS_AFTER", 4)
    echo = await crm.sync(kinds=["contact"])  # reads the three copies back from each of the other two
    assert echo.total("read", "contact") == 6
    assert refreshed == []  # no one connection read 4, nothing was written
