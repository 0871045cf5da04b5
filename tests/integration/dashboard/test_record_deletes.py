"""A record's page after a delete: where it was deleted, when, what the delete policy made of it and which ids went,
as `crmsync explain` says it (both read `explain_record`)."""

from __future__ import annotations

import html
from typing import Any

from tests.integration.dashboard.harness import OPERATOR_TOKEN, SECRETS, Site
from tests.integration.dashboard.test_api_live import sign_in
from tests.integration.dashboard.test_record_merges import hooked_site, record  # noqa: F401  (the fixture)
from tests.integration.service.conftest import eventually


async def delete_grace_in_hubspot(site: Site) -> dict[str, Any]:
    """Delete Grace in HubSpot and wait until the service has spread the delete: her record as the API reads it."""
    grace = site.grace
    assert grace.dynamics is not None
    await site.sb.hubspot.delete("contact", grace.hubspot)

    async def spread() -> dict[str, Any] | None:
        body = await record(site, grace.canonical_id)
        steps = body["deletes"]
        if body["deleted"] and steps and "dynamics" in steps[-1]["deleted_by_crmsync"]:
            return body
        return None

    found: dict[str, Any] = await eventually(spread, after=site.progress, what="Grace's delete in HubSpot spread")
    return found


async def test_a_deleted_record_says_where_when_and_how_it_went(hooked_site: Site) -> None:  # noqa: F811
    site = hooked_site
    grace = site.grace
    body = await delete_grace_in_hubspot(site)
    assert body["deletion"]["connection"] == "hubspot" and body["deletion"]["reason"] == "propagate"
    (step,) = body["deletes"]
    assert (step["connection"], step["how"], step["remote_id"]) == ("hubspot", "propagate", grace.hubspot)
    assert step["still_to_delete"] == []
    former = {(f["connection"], f["remote_id"], f["reason"]) for f in body["former_ids"]}
    assert former == {("hubspot", grace.hubspot, "deleted there"), ("dynamics", grace.dynamics, "deleted")}

    async with sign_in(site, token=OPERATOR_TOKEN) as browser:
        page = await browser.get(f"/records/contact/{grace.hubspot}")  # a former id still leads to the record
    assert page.status_code == 200
    assert not [secret for secret in SECRETS if secret in page.text]
    text = html.unescape(page.text)
    story = text[text.index('id="deleted-everywhere"') :]
    assert story[: story.index("</p>")].count("deleted in hubspot") == 1 and "(propagate)" in story
    table = text[text.index('id="deletes"') :]
    table = table[: table.index("</table>")]
    assert f'<tr data-connection="hubspot" data-how="propagate"><td>hubspot</td><td><code>{grace.hubspot}' in table
    assert "deleted by crmsync in dynamics" in table
