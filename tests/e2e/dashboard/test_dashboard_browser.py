"""The dashboard in a real browser (the issue's list): the overview after a real sync, resolving a conflict that
then reaches all three emulators, retrying a record fixed at its source, searching a record and reading its
history, a deleted record's story, and requests without a token refused."""

from __future__ import annotations

import importlib.util
import os

import pytest

if importlib.util.find_spec("playwright") is None and os.environ.get("CI") != "true":
    pytest.skip("the playwright package is not installed (pip install -e '.[dev]')", allow_module_level=True)

from playwright.async_api import Page, expect  # imported once it is known to be installed

from tests.e2e.dashboard.conftest import screenshot, sign_in
from tests.integration.dashboard.harness import ADA_EMAIL, Site
from tests.integration.dashboard.test_record_deletes import delete_grace_in_hubspot
from tests.integration.dashboard.test_record_merges import hooked_site, merge_ada_and_grace  # noqa: F401
from tests.integration.service.conftest import eventually

pytestmark = pytest.mark.browser


async def test_the_overview_reflects_a_real_sync(page: Page, site: Site) -> None:
    await sign_in(page, site)
    await expect(page.locator("h1")).to_have_text("Sync health")
    await expect(page.locator("#open-conflicts")).to_have_text("1")
    await expect(page.locator("#sync-errors")).to_have_text("1")
    salesforce = page.locator('#health tr[data-connection="salesforce"][data-kind="contact"]')
    await expect(salesforce.locator(".in-sync")).to_have_text("1")  # Ada; Salesforce refused Grace
    await expect(salesforce.locator(".failing")).to_have_text("1")
    for connection in ("hubspot", "dynamics"):
        row = page.locator(f'#health tr[data-connection="{connection}"][data-kind="contact"]')
        await expect(row.locator(".in-sync")).to_have_text("2")
    await expect(page.locator('#limits tr[data-connection="hubspot"] .state')).to_contain_text("ok")
    await expect(page.locator("#volume-chart rect.changes")).not_to_have_count(0)
    await expect(page.locator("#volume-chart rect.errors")).to_have_count(1)
    await screenshot(page, "overview")
    await page.click("nav >> text=API")
    await expect(page.locator("#endpoints tbody tr")).to_have_count(10)
    await screenshot(page, "api")


async def test_resolving_a_conflict_in_the_page_reaches_all_three_crms(page: Page, site: Site) -> None:
    await sign_in(page, site, "/conflicts")
    conflict = page.locator("section.conflict").first
    await expect(conflict).to_contain_text("Ada Lovelace")
    await expect(conflict.locator('tr[data-side="salesforce"] .value')).to_have_text("Director")
    await expect(conflict.locator('tr[data-side="hubspot"] .value')).to_have_text("Chief Analyst")
    await screenshot(page, "conflicts")
    await conflict.get_by_role("button", name="Take hubspot").click()
    await expect(page.locator(".flash.ok")).to_contain_text("resolved: title = Chief Analyst")
    await expect(page.locator("section.conflict")).to_have_count(0)

    async def everywhere() -> bool:
        return set((await site.titles()).values()) == {"Chief Analyst"}

    await eventually(everywhere, after=site.progress, what="the chosen title in Salesforce, HubSpot and Dataverse")
    await screenshot(page, "conflicts-resolved")


async def test_retrying_a_failed_record_after_fixing_it_at_the_source(page: Page, site: Site) -> None:
    await sign_in(page, site, "/errors")
    group = page.locator("section.error-group")
    await expect(group).to_have_count(1)
    await expect(group.locator(".vendor-message")).to_have_text("Required fields are missing: [LastName]")
    await screenshot(page, "errors")
    await site.sb.hubspot.update("contact", site.grace.hubspot, {"lastname": "Hopper"})  # fixed where it came from
    await group.locator("button.retry-one").click()
    await expect(page.locator(".flash.ok")).to_contain_text("1 re-queued")

    async def created() -> bool:
        found = await site.grace_in_salesforce()
        return found is not None and found["LastName"] == "Hopper"

    await eventually(created, after=site.progress, what="Grace Hopper created in Salesforce")

    async def healed() -> bool:
        return await site.error_ids() == []

    await eventually(healed, after=site.progress, what="the sync error cleared")
    await page.goto(site.url + "/errors")
    await expect(page.locator("section.error-group")).to_have_count(0)
    await screenshot(page, "errors-retried")


async def test_searching_a_record_and_reading_its_history(page: Page, site: Site) -> None:
    await sign_in(page, site, "/records")
    await page.fill("input[name=q]", ADA_EMAIL)
    await page.click("form.search button[type=submit]")
    hits = page.locator("#hits tbody tr")
    await expect(hits).to_have_count(1)
    await screenshot(page, "records-search")
    await hits.locator("a").click()
    await expect(page.locator("#canonical-id")).to_have_text(site.ada.canonical_id)
    title = page.locator('#values tr[data-field="title"]')
    await expect(title.locator('[data-connection="salesforce"]')).to_contain_text("Director")
    await expect(title.locator('[data-connection="hubspot"]')).to_contain_text("Chief Analyst")
    await expect(title.locator('[data-connection="dynamics"]')).to_contain_text("Analyst")
    await expect(page.locator("#record-links a")).to_have_count(3)
    history = page.locator("#history tbody")
    await expect(history).to_contain_text("last_name")
    await expect(history).to_contain_text("Lovelace")
    await screenshot(page, "record")


async def test_a_merged_record_leads_to_the_record_it_was_merged_into(page: Page, hooked_site: Site) -> None:  # noqa: F811
    merge = await merge_ada_and_grace(hooked_site)
    await sign_in(page, hooked_site, f"/records/contact/{merge.retired}")
    await expect(page.locator("h1 small")).to_have_text("merged")
    into = page.locator("#merged-into")
    await expect(into).to_contain_text("by a vendor merge in hubspot")
    await screenshot(page, "record-merged")
    await into.locator("a").click()
    await expect(page.locator("#canonical-id")).to_have_text(merge.kept)
    await expect(page.locator("#merged-into")).to_have_count(0)
    for hubspot_id in merge.absorbed:
        row = page.locator(f'#former-ids tr[data-connection="hubspot"][data-remote-id="{hubspot_id}"]')
        await expect(row).to_contain_text("merged away")
    await screenshot(page, "record-former-ids")


async def test_a_deleted_record_says_where_when_and_how_it_went(page: Page, hooked_site: Site) -> None:  # noqa: F811
    grace = hooked_site.grace
    await delete_grace_in_hubspot(hooked_site)
    await sign_in(page, hooked_site, f"/records/contact/{grace.hubspot}")
    await expect(page.locator("#canonical-id")).to_have_text(grace.canonical_id)
    await expect(page.locator("h1 small")).to_have_text("deleted")
    everywhere = page.locator("#deleted-everywhere")
    await expect(everywhere).to_contain_text("deleted in hubspot")
    await expect(everywhere).to_contain_text("(propagate)")
    step = page.locator('#deletes tr[data-connection="hubspot"][data-how="propagate"]')
    await expect(step).to_contain_text(grace.hubspot)
    await expect(step.locator(".how")).to_contain_text("propagated: deleted in the other CRMs too")
    await expect(step.locator(".spread")).to_have_text("deleted by crmsync in dynamics")
    await expect(page.locator(f'#former-ids tr[data-remote-id="{grace.hubspot}"]')).to_contain_text("deleted there")
    await expect(page.locator(f'#former-ids tr[data-remote-id="{grace.dynamics}"]')).to_contain_text(
        "deleted by crmsync"
    )
    await screenshot(page, "record-deleted")


async def test_requests_without_a_token_are_refused(page: Page, site: Site) -> None:
    answer = await page.goto(site.url + "/errors")
    assert answer is not None
    await expect(page).to_have_url(site.url + "/login?next=%2Ferrors")
    await expect(page.locator("h1")).to_have_text("Sign in")
    await screenshot(page, "login")
    api = await page.request.get(site.url + "/api/overview")
    assert api.status == 401 and (await api.json())["error"] == "unauthorized"
    await page.fill("#token-login input[name=token]", "not-the-token-0123456789")
    await page.click("#token-login button[type=submit]")
    await expect(page.locator(".flash.bad")).to_contain_text("did not match")
    refused = await page.request.get(site.url + "/api/conflicts")
    assert refused.status == 401
    await screenshot(page, "login-refused")
