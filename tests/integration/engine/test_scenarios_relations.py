"""Scenarios S15–S20: relationships across the three CRMs, and records one target cannot take, through the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from crmsync.engine.connections import open_connectors
from crmsync.engine.runner import RunOptions, SyncRunner
from crmsync.engine.scratch import scratch_copy
from crmsync.store import open_store
from crmsync.testing.sandbox import Sandbox
from tests.integration.engine.conftest import Crm, CrmFactory


async def _two_companies_and_a_contact(crm: Crm) -> tuple[str, str, str]:
    """HubSpot companies `old` and `new` and a contact of `old`, synced everywhere."""
    old = await crm.sb.hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    new = await crm.sb.hubspot.create("company", {"name": "Sperry", "domain": "sperry.example"})
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Hopper", "email": "grace@remington.example"})
    await crm.sb.hubspot.associate("contact", hs, "company", old)
    await crm.sync()
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    assert await crm.sb.salesforce.associated("contact", sf, "company") == [
        await crm.twin("company", "hubspot", old, "salesforce")
    ]
    assert await crm.sb.dynamics.associated("contact", dv, "company") == [
        await crm.twin("company", "hubspot", old, "dynamics")
    ]
    return old, new, hs


async def _move(crm: Crm, hs: str, old: str, new: str) -> None:
    await crm.sb.hubspot.dissociate("contact", hs, "company", old)
    await crm.sb.hubspot.associate("contact", hs, "company", new)


async def _assert_moved(crm: Crm, hs: str, new: str) -> None:
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    sf_account = await crm.twin("company", "hubspot", new, "salesforce")
    dv_account = await crm.twin("company", "hubspot", new, "dynamics")
    sf_row = await crm.sb.salesforce.get("contact", sf, ["AccountId"])
    dv_row = await crm.sb.dynamics.get("contact", dv, ["_parentcustomerid_value"])
    assert sf_row is not None and sf_row["AccountId"] == sf_account
    assert dv_row is not None and dv_row["_parentcustomerid_value"] == dv_account
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    assert (await crm.golden(canonical))["@company"] == await crm.canonical("company", "hubspot", new)


async def test_s15_company_change_in_hubspot_reaches_salesforce_and_dataverse(crm: Crm) -> None:
    """HubSpot leaves the contact's lastmodifieddate alone: an incremental sync finds the move by its link scan."""
    old, new, hs = await _two_companies_and_a_contact(crm)
    await _move(crm, hs, old, new)
    report = await crm.sync()
    await _assert_moved(crm, hs, new)
    assert sorted((w.connection, w.kind, w.operation) for w in report.plan) == [
        ("dynamics", "contact", "update"),
        ("salesforce", "contact", "update"),
    ]
    assert {name for w in report.plan for name, _, _ in w.changes} == {"@company"}
    # The next sync finds nothing moved in HubSpot, and writes nothing (the other two read their own writes back).
    again = await crm.sync()
    assert again.counts[("contact", "hubspot", "read")] == 0
    assert not again.plan


async def test_s15_company_change_in_hubspot_found_by_a_full_sync(crm: Crm) -> None:
    old, new, hs = await _two_companies_and_a_contact(crm)
    await _move(crm, hs, old, new)
    report = await crm.sync(full=True)
    await _assert_moved(crm, hs, new)
    # The move is the only change written: the contact's @company, in Salesforce and Dataverse.
    assert sorted((w.connection, w.kind, w.operation) for w in report.plan) == [
        ("dynamics", "contact", "update"),
        ("salesforce", "contact", "update"),
    ]
    assert {name for w in report.plan for name, _, _ in w.changes} == {"@company"}
    # Nothing else in HubSpot changed: the new company still has the contact, the old one no longer.
    assert await crm.sb.hubspot.associated("company", old, "contact") == []
    assert await crm.sb.hubspot.associated("company", new, "contact") == [hs]


async def test_s15_the_link_scan_reads_again_only_the_records_that_moved(crm_factory: CrmFactory) -> None:
    """Five contacts and a deal in HubSpot, scanned two at a time: the two moved contacts and the moved deal are
    read again and their moves written; the others are not read, and the scan costs one call per page and role."""
    crm = await crm_factory(connections={"hubspot": {"association_batch_size": 2}})
    hubspot = crm.sb.hubspot
    old = await hubspot.create("company", {"name": "Remington Rand", "domain": "remington.example"})
    new = await hubspot.create("company", {"name": "Sperry", "domain": "sperry.example"})
    people = [
        await hubspot.create("contact", {"lastname": f"Person {n}", "email": f"person{n}@remington.example"})
        for n in range(5)
    ]
    for person in people:
        await hubspot.associate("contact", person, "company", old)
    deal = await hubspot.create(
        "deal",
        {
            "dealname": "UNIVAC",
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await hubspot.associate("deal", deal, "company", old)
    await crm.sync()
    for person in (people[1], people[4]):
        await _move(crm, person, old, new)
    await hubspot.dissociate("deal", deal, "company", old)
    await hubspot.associate("deal", deal, "company", new)
    await hubspot.control.reset_stats()

    report = await crm.sync()

    for person in (people[1], people[4]):
        await _assert_moved(crm, person, new)
    sf_deal = await crm.twin("deal", "hubspot", deal, "salesforce")
    row = await crm.sb.salesforce.get("deal", sf_deal, ["AccountId"])
    assert row is not None and row["AccountId"] == await crm.twin("company", "hubspot", new, "salesforce")
    assert report.counts[("contact", "hubspot", "read")] == 2
    assert report.counts[("deal", "hubspot", "read")] == 1
    stats = await hubspot.control.stats()
    # Scans: contacts to companies in 3 pages of 2; the deal's company and contact roles, a page each. The moved
    # records are read again together, with their associations: a call per object, and one per object and role.
    operations = stats["operations"]
    assert operations["associations.v4.batch.read"]["calls"] == 3 + 2 + 1 + 2
    assert operations["contacts.batch.read"]["calls"] == operations["deals.batch.read"]["calls"] == 1
    assert sorted((w.connection, w.kind, w.operation) for w in report.plan) == [
        ("dynamics", "contact", "update"),
        ("dynamics", "contact", "update"),
        ("dynamics", "deal", "update"),
        ("salesforce", "contact", "update"),
        ("salesforce", "contact", "update"),
        ("salesforce", "deal", "update"),
    ]


async def test_s15_a_dry_run_shows_the_move_and_a_scan_is_skipped_when_turned_off(crm: Crm, tmp_path: Path) -> None:
    old, new, hs = await _two_companies_and_a_contact(crm)
    await _move(crm, hs, old, new)
    scratch = await scratch_copy(crm.store, tmp_path)  # as `crmsync sync --dry-run` runs
    try:
        async with open_connectors(crm.config) as connectors:
            dry = await SyncRunner(crm.config, scratch, connectors).run(RunOptions(dry_run=True))
    finally:
        await scratch.aclose()
    assert {(w.connection, name) for w in dry.plan for name, _, _ in w.changes} == {
        ("dynamics", "@company"),
        ("salesforce", "@company"),
    }
    unscanned = await crm.sync(scan_links=False)  # `crmsync serve`'s polls between its scans
    assert unscanned.counts[("contact", "hubspot", "read")] == 0 and not unscanned.plan
    await crm.sync()
    await _assert_moved(crm, hs, new)


async def test_s16_new_opportunity_arrives_with_its_company_and_contact(crm: Crm) -> None:
    account = await crm.sb.salesforce.create("company", {"Name": "Acme", "Website": "acme.example"})
    contact = await crm.sb.salesforce.create(
        "contact", {"LastName": "Coyote", "Email": "wile@acme.example", "AccountId": account}
    )
    opportunity = await crm.sb.salesforce.create(
        "deal",
        {
            "Name": "Rockets",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "AccountId": account,
            "Amount": 5000,
        },
    )
    await crm.sb.salesforce.associate("deal", opportunity, "contact", contact)  # an OpportunityContactRole
    report = await crm.sync()
    assert await crm.errors() == []
    hs = await crm.twin("deal", "salesforce", opportunity, "hubspot")
    dv = await crm.twin("deal", "salesforce", opportunity, "dynamics")
    assert await crm.sb.hubspot.associated("deal", hs, "company") == [
        await crm.twin("company", "salesforce", account, "hubspot")
    ]
    assert await crm.sb.hubspot.associated("deal", hs, "contact") == [
        await crm.twin("contact", "salesforce", contact, "hubspot")
    ]
    hs_row = await crm.sb.hubspot.get("deal", hs, ["dealname", "amount", "pipeline", "dealstage"])
    assert hs_row is not None
    assert (hs_row["dealname"], hs_row["amount"], hs_row["pipeline"], hs_row["dealstage"]) == (
        "Rockets",
        "5000",
        "default",
        "appointmentscheduled",
    )
    dv_row = await crm.sb.dynamics.get("deal", dv)
    assert dv_row is not None and (dv_row["name"], dv_row["estimatedvalue"]) == ("Rockets", 5000)
    assert dv_row["_customerid_value"] == await crm.twin("company", "salesforce", account, "dynamics")
    assert dv_row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert dv_row["_parentcontactid_value"] == await crm.twin("contact", "salesforce", contact, "dynamics")
    # Parents were created before the deal in each target.
    order = [(w.connection, w.kind) for w in report.plan if w.operation == "create"]
    for connection in ("hubspot", "dynamics"):
        mine = [kind for c, kind in order if c == connection]
        assert mine == ["company", "contact", "deal"]
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0


async def test_s17_parent_created_first_then_the_contact_linked_to_it(crm: Crm) -> None:
    account = await crm.sb.dynamics.create("company", {"name": "Contoso", "websiteurl": "contoso.example"})
    contact = await crm.sb.dynamics.create(
        "contact",
        {
            "lastname": "Smith",
            "emailaddress1": "smith@contoso.example",
            "parentcustomerid_account@odata.bind": f"/accounts({account})",
        },
    )
    report = await crm.sync()
    assert await crm.errors() == []
    for connection in ("salesforce", "hubspot"):
        creates = [w.kind for w in report.plan if w.connection == connection and w.operation == "create"]
        assert creates == ["company", "contact"]
    sf_account = await crm.twin("company", "dynamics", account, "salesforce")
    sf_contact = await crm.twin("contact", "dynamics", contact, "salesforce")
    sf_row = await crm.sb.salesforce.get("contact", sf_contact, ["LastName", "AccountId"])
    assert sf_row is not None and (sf_row["LastName"], sf_row["AccountId"]) == ("Smith", sf_account)
    account_row = await crm.sb.salesforce.get("company", sf_account, ["Name"])
    assert account_row is not None and account_row["Name"] == "Contoso"
    hs_account = await crm.twin("company", "dynamics", account, "hubspot")
    hs_contact = await crm.twin("contact", "dynamics", contact, "hubspot")
    assert await crm.sb.hubspot.associated("contact", hs_contact, "company") == [hs_account]
    assert await crm.sb.salesforce.count("company") == 1 and await crm.sb.hubspot.count("company") == 1


async def test_s18_deal_closed_won_in_hubspot_is_won_in_salesforce_and_dataverse(crm: Crm) -> None:
    hs = await crm.sb.hubspot.create(
        "deal",
        {
            "dealname": "Rockets",
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "amount": "5000",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await crm.sync()
    sf = await crm.twin("deal", "hubspot", hs, "salesforce")
    dv = await crm.twin("deal", "hubspot", hs, "dynamics")
    sf_row = await crm.sb.salesforce.get("deal", sf, ["StageName"])
    dv_row = await crm.sb.dynamics.get("deal", dv, ["statecode"])
    assert sf_row is not None and sf_row["StageName"] == "Prospecting"
    assert dv_row is not None and dv_row["statecode"] == 0
    await crm.sb.hubspot.update("deal", hs, {"dealstage": "closedwon"})
    report = await crm.sync()
    assert await crm.errors() == []
    assert {(w.connection, w.changes) for w in report.plan} == {
        ("salesforce", (("stage", "prospecting", "closed_won"),)),
        ("dynamics", (("stage", "prospecting", "closed_won"),)),
    }
    sf_row = await crm.sb.salesforce.get("deal", sf, ["StageName", "IsClosed", "IsWon"])
    assert sf_row is not None and (sf_row["StageName"], sf_row["IsClosed"], sf_row["IsWon"]) == (
        "Closed Won",
        True,
        True,
    )
    # Dataverse refuses statecode Won on a PATCH ("use the WinOpportunityRequest message"), so a won row
    # with its close date set is the WinOpportunity action's doing.
    dv_row = await crm.sb.dynamics.get("deal", dv, ["statecode", "statuscode", "actualclosedate"])
    assert dv_row is not None and (dv_row["statecode"], dv_row["statuscode"]) == (1, 3)
    assert dv_row["actualclosedate"] is not None
    again = await crm.sync()
    assert again.total("updated") + again.total("created") == 0


@pytest.fixture(scope="module")
def platform_sandbox() -> Iterator[Sandbox]:
    # Dataverse's Web API accepts a contact without lastname (ApplicationRequired is enforced by forms, not the
    # API); the emulator enforces it by default, so S19 runs against one set up as the real platform behaves.
    with Sandbox(settings={"dynamics": {"enforce_application_required": False}}) as sb:
        yield sb


@pytest.fixture
async def platform_crm(platform_sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Crm]:
    await platform_sandbox.reset()
    config = platform_sandbox.load_config(tmp_path / "platform")
    store = await open_store(config.state_url)
    yield Crm(platform_sandbox, config, store)
    await store.aclose()


async def test_s19_contact_without_last_name_fails_in_salesforce_only_until_fixed(platform_crm: Crm) -> None:
    crm = platform_crm
    hs = await crm.sb.hubspot.create("contact", {"firstname": "Ada", "email": "ada@example.com"})
    report = await crm.sync()
    assert report.total("failed") == 1
    canonical = await crm.canonical("contact", "hubspot", hs)
    assert canonical is not None
    (error,) = await crm.errors()
    assert (error.report.connection, error.report.operation, error.report.canonical_id) == (
        "salesforce",
        "create",
        canonical,
    )
    assert error.report.field == "LastName" and error.report.code == "REQUIRED_FIELD_MISSING"
    assert error.report.message == "Required fields are missing: [LastName]"
    assert await crm.sb.salesforce.count("contact") == 0 and await crm.remote(canonical, "salesforce") is None
    # Dataverse takes it.
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    dv_row = await crm.sb.dynamics.get("contact", dv, ["firstname", "lastname", "emailaddress1"])
    assert dv_row is not None
    assert (dv_row["firstname"], dv_row["lastname"], dv_row["emailaddress1"]) == ("Ada", None, "ada@example.com")

    await crm.sb.hubspot.update("contact", hs, {"lastname": "Lovelace"})
    fixed = await crm.sync()
    assert await crm.errors() == []
    assert {(w.connection, w.operation) for w in fixed.plan} == {("salesforce", "create"), ("dynamics", "update")}
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    sf_row = await crm.sb.salesforce.get("contact", sf, ["FirstName", "LastName", "Email"])
    assert sf_row is not None and (sf_row["FirstName"], sf_row["LastName"], sf_row["Email"]) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
    )
    dv_row = await crm.sb.dynamics.get("contact", dv, ["lastname"])
    assert dv_row is not None and dv_row["lastname"] == "Lovelace"
    again = await crm.sync()
    assert again.total("created") + again.total("updated") + again.total("failed") == 0


async def test_s20_unmapped_lead_source_is_skipped_and_reported(crm: Crm) -> None:
    sf = await crm.sb.salesforce.create(
        "contact", {"LastName": "Hopper", "Email": "grace@example.com", "Title": "Admiral", "LeadSource": "Webinar"}
    )
    await crm.sync()
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    assert (await crm.golden(canonical)).get("lead_source") is None
    (error,) = await crm.errors()
    assert (error.report.connection, error.report.remote_id, error.report.field) == ("salesforce", sf, "lead_source")
    assert "'Webinar'" in error.report.message and "LeadSource" in error.report.message
    # The record itself syncs, without that field.
    hs = await crm.twin("contact", "salesforce", sf, "hubspot")
    hs_row = await crm.sb.hubspot.get("contact", hs, ["lastname", "jobtitle"])
    assert hs_row is not None and (hs_row["lastname"], hs_row["jobtitle"]) == ("Hopper", "Admiral")
    dv = await crm.twin("contact", "salesforce", sf, "dynamics")
    dv_row = await crm.sb.dynamics.get("contact", dv, ["lastname", "jobtitle"])
    assert dv_row is not None and (dv_row["lastname"], dv_row["jobtitle"]) == ("Hopper", "Admiral")


async def test_s20_each_unreadable_value_is_reported_until_fixed_in_its_crm(crm: Crm) -> None:
    sf = await crm.sb.salesforce.create(
        "contact", {"LastName": "Hopper", "Email": "grace@example.com", "LeadSource": "Webinar", "Phone": "ask"}
    )
    await crm.sync()

    async def salesforce_reads() -> dict[str | None, int]:
        return {
            e.report.field: e.count
            for e in await crm.errors()
            if (e.report.connection, e.report.operation, e.report.remote_id) == ("salesforce", "read", sf)
        }

    # Both problems of the one record are listed, each naming its field.
    assert await salesforce_reads() == {"lead_source": 1, "phone": 1}
    await crm.sb.salesforce.update("contact", sf, {"LeadSource": "Web", "Title": "Admiral"})
    await crm.sync()
    # 'Web' has a mapping: the lead source's error is gone; the phone is still unreadable, read twice.
    assert await salesforce_reads() == {"phone": 2}
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None and (await crm.golden(canonical)).get("lead_source") == "web"
    # Kept as it is, 'ask' went to HubSpot and Dataverse too, where each read of it is reported as well.
    assert sorted((e.report.connection, e.report.field) for e in await crm.errors()) == [
        ("dynamics", "phone"),
        ("hubspot", "phone"),
        ("salesforce", "phone"),
    ]
    await crm.sb.salesforce.update("contact", sf, {"Phone": "+1 415 555 0100"})
    await crm.sync()
    assert await salesforce_reads() == {}
    # The fixed number reached the others; the next sync reads it back there (an echo: no change, no write),
    # which settles theirs too.
    echo = await crm.sync()
    assert echo.total("created") + echo.total("updated") == 0
    assert await crm.errors() == []


async def test_s20_an_unreadable_value_crmsync_overwrites_is_reported_no_more(crm: Crm) -> None:
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Hopper", "email": "grace@example.com", "phone": "ask"})
    await crm.sync()
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    # In one sync HubSpot's record is read again, still unreadable, while a fixed number arrives from Salesforce.
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Admiral"})
    await crm.sb.salesforce.update("contact", sf, {"Phone": "+1 415 555 0100"})
    await crm.sync()
    row = await crm.sb.hubspot.get("contact", hs, ["phone"])
    assert row is not None and row["phone"] == "+14155550100"
    # Crmsync replaced the value HubSpot's read could not take: nothing is left to fix there.
    assert [e.report for e in await crm.errors() if e.report.connection == "hubspot"] == []


# Stage maps without the shipped entries for HubSpot's Renewals pipeline: a company whose Salesforce and
# Dataverse have nowhere to put a renewal.
RENEWALS_UNMAPPED = """
deal.stage:
  salesforce:
    field: StageName
    values: {Prospecting: prospecting, Proposal/Price Quote: proposal, Closed Won: closed_won}
  dynamics:
    field: [statecode, statuscode, salesstage]
    transform: opportunity_state
    values: {"open:": prospecting, "open:2": proposal, won: closed_won}
"""


async def test_s20_renewals_stage_salesforce_cannot_hold_is_not_written(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(mappings_yaml=RENEWALS_UNMAPPED)
    hs = await crm.sb.hubspot.create(
        "deal",
        {
            "dealname": "Support plan",
            "pipeline": "default",
            "dealstage": "contractsent",
            "amount": "5000",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await crm.sync()
    sf = await crm.twin("deal", "hubspot", hs, "salesforce")
    dv = await crm.twin("deal", "hubspot", hs, "dynamics")
    # "Renewal Due" of the Renewals pipeline: neither Salesforce's StageName nor Dataverse's state maps it here.
    await crm.sb.hubspot.update("deal", hs, {"pipeline": "75123456", "dealstage": "75123457", "amount": "7000"})
    report = await crm.sync()
    assert {(w.connection, w.changes) for w in report.plan} == {
        ("salesforce", (("amount", 5000, 7000),)),
        ("dynamics", (("amount", 5000, 7000),)),
    }
    sf_row = await crm.sb.salesforce.get("deal", sf, ["StageName", "Amount"])
    assert sf_row is not None and (sf_row["StageName"], sf_row["Amount"]) == ("Proposal/Price Quote", 7000)
    dv_row = await crm.sb.dynamics.get("deal", dv, ["statecode", "salesstage", "estimatedvalue"])
    assert dv_row is not None and (dv_row["statecode"], dv_row["estimatedvalue"]) == (0, 7000)
    errors = {e.report.connection: e.report for e in await crm.errors()}
    assert set(errors) == {"salesforce", "dynamics"}
    for connection, vendor_field in (("salesforce", "StageName"), ("dynamics", "statecode")):
        found = errors[connection]
        assert (found.field, found.remote_id, found.code) == (
            "stage",
            sf if connection == "salesforce" else dv,
            "unmapped_value",
        )
        assert "'renewal_due'" in found.message and vendor_field in found.message
    # Still in that stage at the next change: the same error, counted again, not a second one.
    await crm.sb.hubspot.update("deal", hs, {"amount": "8000"})
    await crm.sync()
    again = await crm.errors()
    assert sorted((e.report.connection, e.report.field, e.count) for e in again) == [
        ("dynamics", "stage", 2),
        ("salesforce", "stage", 2),
    ]
    # Back in a stage both can hold: the writes go through whole, and the errors are settled.
    await crm.sb.hubspot.update("deal", hs, {"pipeline": "default", "dealstage": "contractsent"})
    await crm.sync()
    assert await crm.errors() == []
