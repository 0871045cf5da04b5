"""Scenarios S01–S10: creating, meeting and editing records across the three emulators, through the real engine."""

from __future__ import annotations

import pytest

from crmsync.engine.views.conflicts import conflict_detail
from crmsync.engine.views.explain import explain_record
from tests.integration.engine.conftest import Crm, CrmFactory

EMAIL = "ada.lovelace@example.com"


async def _everywhere(crm: Crm) -> tuple[str, str, str]:
    """A contact created in HubSpot and synced: its ids in Salesforce, HubSpot and Dataverse."""
    hs = await crm.sb.hubspot.create(
        "contact", {"firstname": "Ada", "lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"}
    )
    await crm.sync()
    sf = await crm.twin("contact", "hubspot", hs, "salesforce")
    dv = await crm.twin("contact", "hubspot", hs, "dynamics")
    return sf, hs, dv


async def test_s01_new_record_appears_everywhere_with_external_ids(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    canonical = await crm.canonical("contact", "hubspot", hs)
    sf_row = await crm.sb.salesforce.get("contact", sf)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and dv_row is not None
    assert (sf_row["FirstName"], sf_row["LastName"], sf_row["Email"], sf_row["Title"]) == (
        "Ada",
        "Lovelace",
        EMAIL,
        "Analyst",
    )
    assert (dv_row["firstname"], dv_row["lastname"], dv_row["emailaddress1"], dv_row["jobtitle"]) == (
        "Ada",
        "Lovelace",
        EMAIL,
        "Analyst",
    )
    assert sf_row["Crmsync_Id__c"] == canonical and dv_row["new_crmsyncid"] == canonical
    # A retried create (the same sync again) updates instead of duplicating.
    await crm.sync()
    assert await crm.sb.salesforce.count("contact") == 1
    assert await crm.sb.dynamics.count("contact") == 1


async def test_s02_existing_twins_are_linked_not_duplicated(crm: Crm) -> None:
    # Salesforce and HubSpot refuse an address with spaces around it; Dataverse keeps it as typed.
    sf = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL, "Title": "Analyst"})
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": f"  {EMAIL.title()} "})
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        await user.control.advance(5)
    hs = await crm.sb.hubspot.create(
        "contact", {"lastname": "Lovelace", "email": "Ada.Lovelace@Example.COM", "jobtitle": "Countess"}
    )
    await crm.sync()
    assert await crm.twin("contact", "salesforce", sf, "hubspot") == hs
    assert await crm.twin("contact", "salesforce", sf, "dynamics") == dv
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        assert await user.count("contact") == 1
    # No base: the most recently modified record's value wins (HubSpot's, created last).
    sf_row = await crm.sb.salesforce.get("contact", sf)
    assert sf_row is not None and sf_row["Title"] == "Countess"


async def test_s03_duplicates_inside_one_system_link_the_oldest(crm: Crm) -> None:
    first = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL})
    second = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL.upper()})
    await crm.sync()
    assert await crm.sb.hubspot.count("contact") == 1
    assert await crm.sb.dynamics.count("contact") == 1
    survivor = await crm.canonical("contact", "salesforce", first)
    assert survivor is not None and await crm.canonical("contact", "salesforce", second) == survivor
    assert await crm.remote(survivor, "salesforce") == first
    (duplicate,) = [e for e in await crm.errors() if e.report.code == "DUPLICATE"]
    assert duplicate.report.remote_id == second and first in duplicate.report.message


async def test_records_without_a_match_key_are_counted_and_the_run_says_what_to_do(crm: Crm) -> None:
    await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL})
    await crm.sb.salesforce.create("contact", {"FirstName": "Charles", "LastName": "Babbage"})
    await crm.sb.hubspot.create("contact", {"firstname": "Charles", "lastname": "Babbage"})
    report = await crm.sync(kinds=("contact",))
    assert report.total("keyless") == 2 and report.total("new") == 3
    (note,) = [n for n in report.notes if "match" in n]
    assert note.startswith("2 contacts met for the first time had no email to match by (hubspot 1, salesforce 1)")
    assert "add a second key to objects.contact.match, or a filter" in note
    # Met again, they are linked: nothing more to say.
    assert not [n for n in (await crm.sync(kinds=("contact",))).notes if "match" in n]
    await crm.sb.dynamics.create("contact", {"firstname": "Mary", "lastname": "Somerville"})
    (one,) = [n for n in (await crm.sync(kinds=("contact",))).notes if "match" in n]
    assert one.startswith("1 contact met for the first time had no email to match by (dynamics 1): it is new")


async def test_a_second_match_key_meets_people_without_email_by_company_and_name(crm_factory: CrmFactory) -> None:
    # What the note above suggests, as `crmsync init`'s example spells it.
    crm = await crm_factory(objects_yaml="company: {}\ncontact: {match: [email, [company, first_name, last_name]]}")
    account = await crm.sb.salesforce.create("company", {"Name": "Analytical Engines"})
    company = await crm.sb.hubspot.create("company", {"name": "Analytical Engines"})
    babbage = {"FirstName": "Charles", "LastName": "Babbage", "AccountId": account}
    sf = await crm.sb.salesforce.create("contact", babbage)
    hs = await crm.sb.hubspot.create("contact", {"firstname": "Charles", "lastname": "Babbage"})
    await crm.sb.hubspot.associate("contact", hs, "company", company)
    report = await crm.sync(kinds=("company", "contact"))
    assert await crm.twin("contact", "salesforce", sf, "hubspot") == hs
    assert report.total("keyless") == 0
    assert (await crm.sb.salesforce.count("contact"), await crm.sb.hubspot.count("contact")) == (1, 1)


async def test_s04_one_edit_reaches_the_others_and_writes_nothing_else(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Phone": "(415) 555-0100"})
    report = await crm.sync()
    assert report.total("updated") == 2 and report.total("created") == 0
    hs_row = await crm.sb.hubspot.get("contact", hs)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert hs_row is not None and hs_row["phone"] == "+14155550100"
    assert dv_row is not None and dv_row["telephone1"] == "+14155550100"
    assert [w for w in report.plan if w.operation != "update"] == []
    assert {name for w in report.plan for name, _, _ in w.changes} <= {"phone"}


async def test_s05_different_fields_changed_concurrently_both_land(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.hubspot.update("contact", hs, {"email": "ada@analytical.example"})
    await crm.sb.dynamics.update("contact", dv, {"jobtitle": "Engineer"})
    await crm.sync()
    sf_row = await crm.sb.salesforce.get("contact", sf)
    assert sf_row is not None and (sf_row["Email"], sf_row["Title"]) == ("ada@analytical.example", "Engineer")
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert dv_row is not None and dv_row["emailaddress1"] == "ada@analytical.example"
    hs_row = await crm.sb.hubspot.get("contact", hs)
    assert hs_row is not None and hs_row["jobtitle"] == "Engineer"
    assert await crm.conflicts() == []


async def test_s06_same_field_last_writer_wins_and_audit_keeps_the_loser(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        await user.control.advance(30)
    await crm.sb.dynamics.update("contact", dv, {"jobtitle": "Chief Analyst"})
    await crm.sync()
    for row, name in (
        (await crm.sb.salesforce.get("contact", sf), "Title"),
        (await crm.sb.hubspot.get("contact", hs), "jobtitle"),
        (await crm.sb.dynamics.get("contact", dv), "jobtitle"),
    ):
        assert row is not None and row[name] == "Chief Analyst"
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    async with crm.store.read() as tx:
        trail = await tx.audit.list(canonical, "title")
    assert trail[-1].new == "Chief Analyst" and trail[-1].reason.startswith("last_writer_wins")


async def test_s06_same_field_prefer_salesforce(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {policy: {prefer: [salesforce]}}")
    sf, hs, _ = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})
    for user in (crm.sb.salesforce, crm.sb.hubspot, crm.sb.dynamics):
        await user.control.advance(30)
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Chief Analyst"})
    await crm.sync()
    hs_row = await crm.sb.hubspot.get("contact", hs)
    assert hs_row is not None and hs_row["jobtitle"] == "Director"


async def test_an_edit_of_a_one_way_field_is_written_over_and_the_audit_keeps_it(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {direction: {from: [hubspot]}}}}")
    sf, _, _ = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})  # Salesforce only receives titles
    await crm.sync()
    sf_row = await crm.sb.salesforce.get("contact", sf)
    assert sf_row is not None and sf_row["Title"] == "Analyst"
    canonical = await crm.canonical("contact", "salesforce", sf)
    assert canonical is not None
    async with crm.store.read() as tx:
        trail = await tx.audit.list(canonical, "title")
    (written_over,) = [entry for entry in trail if entry.reason.startswith("reverted")]
    assert (written_over.old, written_over.new, written_over.connection) == ("Director", "Analyst", "salesforce")
    assert written_over.reason == "reverted (one-way field)"
    explained = await explain_record(crm.store, crm.config, "contact", canonical)
    title = next(f for f in explained.fields if f.field == "title")
    assert (title.source, title.rule) == ("hubspot", "change")  # the golden value's provenance is untouched
    assert title.history[-1] == written_over  # explain shows what was written over
    await crm.sync()  # the written value read back is no edit: audited once
    async with crm.store.read() as tx:
        assert len([e for e in await tx.audit.list(canonical, "title") if e.reason.startswith("reverted")]) == 1


async def test_s06_same_field_manual_parks_until_chosen(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {policy: manual}}}")
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Chief Analyst"})
    await crm.sync()
    (conflict,) = await crm.conflicts()
    assert conflict.field == "title"
    assert {(s.connection, s.value) for s in conflict.sides} == {
        ("salesforce", "Director"),
        ("hubspot", "Chief Analyst"),
    }
    # Nobody's value was overwritten while the conflict waits.
    sf_row = await crm.sb.salesforce.get("contact", sf)
    hs_row = await crm.sb.hubspot.get("contact", hs)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and sf_row["Title"] == "Director"
    assert hs_row is not None and hs_row["jobtitle"] == "Chief Analyst"
    assert dv_row is not None and dv_row["jobtitle"] == "Analyst"
    from crmsync.engine.resolution import resolve

    await resolve(crm.store, crm.config, conflict.id, choice_connection="hubspot", by="test")
    await crm.sync()
    assert await crm.conflicts() == []
    for row, name in (
        (await crm.sb.salesforce.get("contact", sf), "Title"),
        (await crm.sb.dynamics.get("contact", dv), "jobtitle"),
    ):
        assert row is not None and row[name] == "Chief Analyst"


async def test_s06_twins_met_in_turn_under_manual_stay_parked_until_a_person_chooses(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {title: {policy: manual}}}")
    sf = await crm.sb.salesforce.create("contact", {"LastName": "Lovelace", "Email": EMAIL, "Title": "Analyst"})
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Countess"})
    await crm.sync()  # Salesforce's page is read before HubSpot's: the golden title was Salesforce's alone
    (conflict,) = await crm.conflicts()
    view = (await conflict_detail(crm.store, conflict.id)).conflict
    assert not view.has_base  # a first meeting: no value was agreed, Salesforce's own is not shown as the base
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})
    await crm.sync()
    await crm.sb.salesforce.update("contact", sf, {"Title": "Analyst"})  # back to its own first value
    await crm.sync()
    (still,) = await crm.conflicts()  # before: Salesforce "gave up", and HubSpot's Countess was written over it
    assert still.id == conflict.id
    assert {(s.connection, s.value) for s in still.sides} == {("salesforce", "Analyst"), ("hubspot", "Countess")}
    sf_row = await crm.sb.salesforce.get("contact", sf)
    hs_row = await crm.sb.hubspot.get("contact", hs)
    assert sf_row is not None and sf_row["Title"] == "Analyst"
    assert hs_row is not None and hs_row["jobtitle"] == "Countess"


async def test_s06_a_parked_required_field_goes_with_a_create_and_the_choice_follows(
    crm_factory: CrmFactory,
) -> None:
    # HubSpot and Dataverse meet a deal with different stages: the conflict parks. Salesforce holds no
    # copy yet and cannot create one without its stage, so the create takes the golden stage for now.
    crm = await crm_factory(objects_yaml="company: {}\ndeal: {fields: {stage: {policy: manual}}}")
    account = await crm.sb.hubspot.create("company", {"name": "Acme", "domain": "acme.example"})
    await crm.sync()
    dv_account = await crm.twin("company", "hubspot", account, "dynamics")
    hs = await crm.sb.hubspot.create(
        "deal",
        {
            "dealname": "Rockets",
            "pipeline": "default",
            "dealstage": "qualifiedtobuy",
            "amount": "5000",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await crm.sb.hubspot.associate("deal", hs, "company", account)
    dv = await crm.sb.dynamics.create("deal", {"name": "Rockets", "salesstage": 3})
    await crm.sb.dynamics.associate("deal", dv, "company", dv_account)
    await crm.sync()
    assert [e.report.message for e in await crm.errors()] == []
    (conflict,) = await crm.conflicts()
    assert conflict.field == "stage"
    assert {(s.connection, s.value) for s in conflict.sides} == {
        ("hubspot", "qualification"),
        ("dynamics", "negotiation"),
    }
    assert await crm.twin("deal", "hubspot", hs, "dynamics") == dv
    sf = await crm.twin("deal", "hubspot", hs, "salesforce")
    sf_row = await crm.sb.salesforce.get("deal", sf, ["StageName", "Amount"])
    hs_row = await crm.sb.hubspot.get("deal", hs, ["dealstage"])
    dv_row = await crm.sb.dynamics.get("deal", dv, ["salesstage"])
    assert sf_row is not None and sf_row["StageName"] in ("Qualification", "Negotiation/Review")
    assert sf_row["Amount"] == 5000
    # Neither side's stage was overwritten while the conflict waits.
    assert hs_row is not None and hs_row["dealstage"] == "qualifiedtobuy"
    assert dv_row is not None and dv_row["salesstage"] == 3
    from crmsync.engine.resolution import resolve

    await resolve(crm.store, crm.config, conflict.id, choice_connection="hubspot", by="test")
    await crm.sync()
    assert await crm.conflicts() == []
    sf_row = await crm.sb.salesforce.get("deal", sf, ["StageName"])
    dv_row = await crm.sb.dynamics.get("deal", dv, ["salesstage"])
    assert sf_row is not None and sf_row["StageName"] == "Qualification"
    assert dv_row is not None and dv_row["salesstage"] == 0
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0


@pytest.mark.parametrize("policy", ["manual", "last_writer_wins"])
async def test_s10_a_stage_a_crm_holds_only_coarsely_meets_its_finer_twin_without_a_conflict(
    crm_factory: CrmFactory, policy: str
) -> None:
    # Dataverse's deal is in Negotiation (salesstage 3); its HubSpot twin, edited later, in `contractsent`, the one
    # stage HubSpot has for both Proposal and Negotiation (read as proposal). They do not disagree: HubSpot holds
    # what crmsync would write there for negotiation. Before, the first meeting parked a conflict no choice could
    # settle in HubSpot (manual), or, HubSpot being the later writer, set the deal back to Proposal everywhere
    # else (last_writer_wins): a stage no one chose.
    crm = await crm_factory(objects_yaml=f"company: {{}}\ndeal: {{fields: {{stage: {{policy: {policy}}}}}}}")
    account = await crm.sb.hubspot.create("company", {"name": "Acme", "domain": "acme.example"})
    await crm.sync()
    dv_account = await crm.twin("company", "hubspot", account, "dynamics")
    dv = await crm.sb.dynamics.create("deal", {"name": "Rockets", "salesstage": 3})
    await crm.sb.dynamics.associate("deal", dv, "company", dv_account)
    await crm.sb.hubspot.control.advance(60)  # HubSpot's copy is the later edit
    hs = await crm.sb.hubspot.create(
        "deal",
        {
            "dealname": "Rockets",
            "pipeline": "default",
            "dealstage": "contractsent",
            "closedate": "2026-12-31T00:00:00Z",
        },
    )
    await crm.sb.hubspot.associate("deal", hs, "company", account)
    await crm.sync()
    assert await crm.conflicts() == []
    assert await crm.twin("deal", "hubspot", hs, "dynamics") == dv
    canonical = await crm.canonical("deal", "hubspot", hs)
    assert canonical is not None and (await crm.golden(canonical))["stage"] == "negotiation"
    sf_row = await crm.sb.salesforce.get("deal", await crm.twin("deal", "hubspot", hs, "salesforce"), ["StageName"])
    dv_row = await crm.sb.dynamics.get("deal", dv, ["salesstage"])
    hs_row = await crm.sb.hubspot.get("deal", hs, ["dealstage"])
    assert sf_row is not None and sf_row["StageName"] == "Negotiation/Review"
    assert dv_row is not None and dv_row["salesstage"] == 3
    assert hs_row is not None and hs_row["dealstage"] == "contractsent"
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0
    # `crmsync explain` shows HubSpot's copy as the golden value held the way HubSpot holds it, not one that
    # "differs" with nothing queued (it read as proposal, and no write will ever change it).
    explained = await explain_record(crm.store, crm.config, "deal", canonical)
    (stage,) = [f for f in explained.fields if f.field == "stage"]
    assert {s.connection: s.state for s in stage.shadows} == {
        "salesforce": "same",
        "hubspot": "same",
        "dynamics": "same",
    }


async def test_s07_same_value_in_two_systems_is_no_conflict_and_no_write(crm: Crm) -> None:
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.salesforce.update("contact", sf, {"Title": "Director"})
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "Director"})
    report = await crm.sync()
    assert await crm.conflicts() == []
    assert {(w.connection, w.operation) for w in report.plan} == {("dynamics", "update")}
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert dv_row is not None and dv_row["jobtitle"] == "Director"


async def test_s08_clearing_a_field_clears_it_everywhere_unless_blank_refused(crm_factory: CrmFactory) -> None:
    crm = await crm_factory(objects_yaml="contact: {fields: {email: {policy: {unless_blank: true}}}}")
    sf, hs, dv = await _everywhere(crm)
    await crm.sb.hubspot.update("contact", hs, {"jobtitle": "", "email": ""})
    await crm.sync()
    sf_row = await crm.sb.salesforce.get("contact", sf)
    dv_row = await crm.sb.dynamics.get("contact", dv)
    assert sf_row is not None and sf_row["Title"] is None and sf_row["Email"] == EMAIL
    assert dv_row is not None and dv_row["jobtitle"] is None and dv_row["emailaddress1"] == EMAIL


async def test_s09_no_ping_pong_after_a_sync(crm: Crm) -> None:
    _, _, dv = await _everywhere(crm)
    await crm.sb.dynamics.update("contact", dv, {"jobtitle": "Engineer", "telephone1": "415-555-0100"})
    await crm.sync()
    echo = await crm.sync()  # reads the echoes of its own writes
    assert echo.total("created") + echo.total("updated") + echo.total("deleted") == 0
    quiet = await crm.sync()
    assert quiet.total("read") == 0 and quiet.total("updated") == 0


async def test_s10_equivalent_values_never_cause_a_write(crm: Crm) -> None:
    sf = await crm.sb.salesforce.create(
        "contact", {"FirstName": "José", "LastName": "Müller", "Email": "jose@example.com", "Phone": "(415) 555-0100"}
    )
    hs = await crm.sb.hubspot.create(
        "contact", {"firstname": "José", "lastname": "Müller", "email": "JOSE@example.com", "phone": "+14155550100"}
    )
    await crm.sb.dynamics.create(
        "contact", {"firstname": "小明", "lastname": "王", "emailaddress1": "wang@example.com"}
    )
    await crm.sb.salesforce.create("company", {"Name": "Acme", "Website": "ACME.com"})
    await crm.sb.hubspot.create("company", {"name": "Acme", "domain": "acme.com"})
    first = await crm.sync()
    assert await crm.twin("contact", "salesforce", sf, "hubspot") == hs
    # Only the missing counterparts were created; the twins' equivalent values were not rewritten.
    assert not [w for w in first.plan if w.operation == "update"]
    again = await crm.sync()
    assert again.total("created") + again.total("updated") == 0


async def test_a_record_the_filter_keeps_out_is_linked_to_its_synced_twin_not_created_again(
    crm_factory: CrmFactory,
) -> None:
    """The person syncs through the twin that passes: a second copy in the CRM of the kept-out record is a duplicate."""
    crm = await crm_factory(objects_yaml="contact: {filter: {title: {not_equals: Intern}}}")
    hs = await crm.sb.hubspot.create("contact", {"lastname": "Lovelace", "email": EMAIL, "jobtitle": "Analyst"})
    dv = await crm.sb.dynamics.create("contact", {"lastname": "Lovelace", "emailaddress1": EMAIL, "jobtitle": "Intern"})
    await crm.sync()
    assert [str(row["contactid"]) for row in await crm.sb.dynamics.rows("contact", {"$select": "contactid"})] == [dv]
    assert await crm.twin("contact", "hubspot", hs, "dynamics") == dv
    assert await crm.sb.salesforce.count("contact") == 1
    assert not [e for e in await crm.errors() if e.report.connection == "dynamics"]
