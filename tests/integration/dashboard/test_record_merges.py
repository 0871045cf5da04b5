"""A record's page after a vendor merge: the retired record says which record it was merged into, and the person's
record lists the ids it had before, as `crmsync explain` does (both read `explain_record`)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crmsync.testing.sandbox import Sandbox
from tests.integration.dashboard.harness import OPERATOR_TOKEN, Site, start_site
from tests.integration.dashboard.test_api_live import sign_in
from tests.integration.service.conftest import eventually


@pytest.fixture
async def hooked_site(dashboard_sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Site]:
    """The dashboard's story, with the emulators' webhooks pointed at the service: a merge in HubSpot runs a pass."""
    started = await start_site(dashboard_sandbox, tmp_path / "site", webhooks=True)
    yield started
    await started.stop()
    await dashboard_sandbox.reset()


@dataclass(frozen=True, slots=True)
class Merged:
    hubspot: str  # the merged record's HubSpot id
    absorbed: frozenset[str]  # HubSpot ids the merge took away
    kept: str  # the canonical record the person lives on in
    retired: str  # the canonical record the merge retired


async def record(site: Site, ident: str) -> dict[str, Any]:
    answer = await site.http.get(f"/api/records/contact/{ident}", headers=site.viewer)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def merge_ada_and_grace(site: Site) -> Merged:
    """Merge Ada and Grace in HubSpot and wait until the service has synced the merge."""
    ada, grace = site.ada, site.grace
    merged = await site.sb.hubspot.merge("contact", ada.hubspot, grace.hubspot)

    async def retired() -> tuple[str, str] | None:
        for one, other in ((ada, grace), (grace, ada)):
            body = await record(site, one.canonical_id)
            if body["merged_into"] is not None:
                assert body["merged_into"]["canonical_id"] == other.canonical_id
                return other.canonical_id, one.canonical_id
        return None

    kept, gone = await eventually(retired, after=site.progress, what="HubSpot's merge of Ada and Grace synced")
    return Merged(merged, frozenset({ada.hubspot, grace.hubspot} - {merged}), kept, gone)


async def test_a_merged_record_names_its_survivor_and_the_survivor_its_former_ids(hooked_site: Site) -> None:
    site = hooked_site
    merge = await merge_ada_and_grace(site)
    retired = await record(site, merge.retired)
    assert retired["deleted"] and retired["merged_into"]["connection"] == "hubspot"
    survivor = await record(site, merge.hubspot)
    assert survivor["canonical_id"] == merge.kept and survivor["merged_into"] is None
    former = {(f["connection"], f["remote_id"]) for f in survivor["former_ids"]}
    assert {("hubspot", hs) for hs in merge.absorbed} <= former, survivor["former_ids"]
    assert all(f["reason"] for f in survivor["former_ids"])

    async with sign_in(site, token=OPERATOR_TOKEN) as browser:
        page = await browser.get(f"/records/contact/{merge.retired}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert 'id="merged-into"' in text and f'href="/records/contact/{merge.kept}"' in text, text[-2000:]
        assert "merged" in text[text.index("<h1>") : text.index("</h1>")]
        page = await browser.get(f"/records/contact/{merge.hubspot}")
        text = html.unescape(page.text)
        assert 'id="merged-into"' not in text
        table = text[text.index('id="former-ids"') :]
        table = table[: table.index("</table>")]
        for hs in merge.absorbed:
            assert f'<tr data-connection="hubspot" data-remote-id="{hs}">' in table, table
