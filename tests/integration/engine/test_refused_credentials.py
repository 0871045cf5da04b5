"""Credentials a CRM refuses fail that connection once per run; the other CRMs sync every kind."""

from __future__ import annotations

from pathlib import Path

from tests.integration.engine.conftest import CrmFactory


async def test_refused_credentials_fail_the_connection_once_and_the_others_sync(
    crm_factory: CrmFactory, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong_token"
    wrong.write_text("pat-na1-00000000-0000-4000-8000-0000000000ff")
    crm = await crm_factory(connections={"hubspot": {"access_token": {"file": str(wrong)}}})
    await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": "ada@example.com"})
    report = await crm.sync()
    (failure,) = report.failures  # the companies' read; no later kind asks HubSpot again
    assert failure.startswith("read company hubspot:") and "used as it is (nothing to refresh)" in failure
    assert "pat-na1" not in failure
    assert report.notes == ["hubspot refused its credentials: left alone for the rest of this run"]
    assert await crm.sb.dynamics.count("contact") == 1
