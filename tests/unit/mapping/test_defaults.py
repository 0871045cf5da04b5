"""The shipped maps: real field names of the emulated CRMs, every standard picklist value mapped, and S10/S20."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crmsync.emulators.dynamics.schema import INDUSTRY, standard_tables
from crmsync.emulators.hubspot.options import INDUSTRIES as HUBSPOT_INDUSTRIES
from crmsync.emulators.hubspot.options import TASK_PRIORITIES, TASK_STATUSES
from crmsync.emulators.hubspot.pipelines import PIPELINES
from crmsync.emulators.hubspot.schema import PropertyCatalog, object_type
from crmsync.emulators.salesforce import objects as sf
from crmsync.emulators.salesforce.schema import ObjectDef
from crmsync.mapping import default_mappings
from crmsync.model.values import OBJECT_KINDS, ObjectKind

MAPPINGS = default_mappings()
SF_OBJECTS: dict[str, Callable[[], ObjectDef]] = {
    "Account": sf.account,
    "Contact": sf.contact,
    "Opportunity": sf.opportunity,
    "Task": sf.task,
}


def vendor_field_names(vendor: str, obj: str) -> set[str]:
    if vendor == "salesforce":
        return set(SF_OBJECTS[obj]().fields)
    if vendor == "hubspot":
        found = object_type(obj)
        assert found is not None
        return set(PropertyCatalog().of(found))
    return set(standard_tables()[obj].columns)


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot", "dynamics"])
@pytest.mark.parametrize("kind", OBJECT_KINDS)
def test_every_mapped_field_exists_in_the_vendor_schema(vendor: str, kind: ObjectKind) -> None:
    object_map = MAPPINGS.get(vendor, kind)
    known = vendor_field_names(vendor, object_map.object)
    missing = [name for rule in object_map.rules for name in rule.vendor if name not in known]
    assert missing == [], f"{vendor} {object_map.object} has no {missing}"
    assert {"name", "domain"} <= set(MAPPINGS.get(vendor, "company").canonical_fields)


def test_the_standard_fields_are_mapped_in_all_three_crms() -> None:
    for kind, fields in {
        "company": {"name", "domain", "phone", "industry", "street", "city", "country", "employees", "annual_revenue"},
        "contact": {"first_name", "last_name", "email", "phone", "mobile_phone", "title", "mailing_city"},
        "deal": {"name", "amount", "close_date", "stage"},
        "activity": {"subject", "body", "due_date", "status", "priority"},
    }.items():
        for vendor in ("salesforce", "hubspot", "dynamics"):
            assert fields <= set(MAPPINGS.get(vendor, kind).canonical_fields), (kind, vendor)  # type: ignore[arg-type]


def test_every_salesforce_industry_and_stage_reads_and_writes_back() -> None:
    company = MAPPINGS.get("salesforce", "company")
    for industry in sf.INDUSTRIES:
        fields, problems = company.map_in({"Industry": industry})
        assert problems == ()
        assert company.map_out(fields).fields == {"Industry": industry}
    deal = MAPPINGS.get("salesforce", "deal")
    for stage in sf.STAGES:
        fields, problems = deal.map_in({"StageName": stage})
        assert problems == ()
        assert deal.map_out(fields).fields == {"StageName": stage}


def test_every_dataverse_industry_code_reads_and_every_canonical_industry_writes() -> None:
    company = MAPPINGS.get("dynamics", "company")
    for code in INDUSTRY:
        assert company.map_in({"industrycode": code}).problems == ()
    salesforce = MAPPINGS.get("salesforce", "company")
    blank = set()
    for industry in sf.INDUSTRIES:
        canonical = salesforce.map_in({"Industry": industry}).fields
        written, problems = company.map_out(canonical)
        assert problems == (), industry
        if written["industrycode"] is None:
            blank.add(industry)
        else:
            assert written["industrycode"] in INDUSTRY
    # Dataverse's coarse codes have no honest home for these: left blank there (`blank_for`), not guessed.
    assert blank == {"Biotechnology", "Education", "Government"}


def test_every_hubspot_stage_and_task_value_reads() -> None:
    deal = MAPPINGS.get("hubspot", "deal")
    for pipeline in PIPELINES:
        for stage in pipeline.stages:
            fields, problems = deal.map_in({"pipeline": pipeline.id, "dealstage": stage.id})
            assert problems == ()
            assert deal.map_out(fields).fields == {"pipeline": pipeline.id, "dealstage": stage.id}
    task = MAPPINGS.get("hubspot", "activity")
    for status in TASK_STATUSES:
        assert task.map_in({"hs_task_status": status}).problems == ()
    for priority in TASK_PRIORITIES:
        assert task.map_in({"hs_task_priority": priority}).problems == ()


def test_s18_closed_won_crosses_all_three_crms() -> None:
    canonical = MAPPINGS.map_in("hubspot", "deal", {"pipeline": "default", "dealstage": "closedwon"}).fields
    assert canonical == {"stage": "closed_won"}
    assert MAPPINGS.map_out("salesforce", "deal", canonical).fields == {"StageName": "Closed Won"}
    # statecode 1 is what the Dataverse connector turns into WinOpportunity.
    assert MAPPINGS.map_out("dynamics", "deal", canonical).fields == {"statecode": 1, "statuscode": 3, "salesstage": 3}
    assert MAPPINGS.map_in("dynamics", "deal", {"statecode": 1, "statuscode": 3, "salesstage": 3}).fields == canonical


def test_settle_says_what_a_lossy_target_hands_back() -> None:
    assert MAPPINGS.settle("dynamics", "deal", {"stage": "value_proposition"}) == {"stage": "needs_analysis"}
    assert MAPPINGS.settle("salesforce", "deal", {"stage": "value_proposition"}) == {"stage": "value_proposition"}


def test_s10_equivalent_vendor_values_map_to_equal_canonical_values() -> None:
    salesforce = MAPPINGS.map_in(
        "salesforce",
        "contact",
        {"FirstName": "José", "LastName": "Müller", "Phone": "(415) 555-0100", "Email": " Jose@Example.COM"},
    ).fields
    hubspot = MAPPINGS.map_in(
        "hubspot",
        "contact",
        {"firstname": "Jose\u0301", "lastname": "Mu\u0308ller ", "phone": "+14155550100", "email": "jose@example.com"},
    ).fields
    assert salesforce == hubspot
    companies = [
        MAPPINGS.map_in("salesforce", "company", {"Website": "https://www.ACME.com/"}).fields,
        MAPPINGS.map_in("hubspot", "company", {"domain": "ACME.com"}).fields,
        MAPPINGS.map_in("dynamics", "company", {"websiteurl": "acme.com"}).fields,
    ]
    assert companies == [{"domain": "acme.com"}] * 3
    names = [
        MAPPINGS.map_in(v, "contact", {f: "王小明"}).fields
        for v, f in (("salesforce", "LastName"), ("dynamics", "lastname"))
    ]
    assert names == [{"last_name": "王小明"}] * 2


def test_hubspot_numbers_as_strings_equal_salesforce_numbers() -> None:
    hubspot = MAPPINGS.map_in("hubspot", "company", {"annualrevenue": "1000000", "numberofemployees": "250"}).fields
    salesforce = MAPPINGS.map_in("salesforce", "company", {"AnnualRevenue": 1000000.0, "NumberOfEmployees": 250}).fields
    assert hubspot == salesforce == {"annual_revenue": 1000000, "employees": 250}
    assert MAPPINGS.map_out("hubspot", "company", hubspot).fields == {
        "annualrevenue": "1000000",
        "numberofemployees": "250",
    }


def test_s20_unmapped_value_skips_the_field_and_names_value_and_field() -> None:
    fields, problems = MAPPINGS.map_in("salesforce", "contact", {"LastName": "Smith", "LeadSource": "Webinar"})
    assert fields == {"last_name": "Smith"}
    (problem,) = problems
    assert problem.code == "unmapped_value" and problem.skipped
    assert problem.value == "Webinar" and problem.field == "lead_source" and problem.vendor_field == "LeadSource"
    assert "'Webinar'" in problem.message and "LeadSource" in problem.message and "defaults.yaml:" in problem.message
    # The shipped file is inside the package: the hint says where the operator adds the value, and that their
    # rule replaces the shipped one whole (it said "add it to the value map of the rule at defaults.yaml:315").
    assert "add a rule under `mappings: contact.lead_source: salesforce:` in crmsync.yaml" in problem.message
    assert "`crmsync mappings` shows" in problem.message and "it replaces the shipped rule" in problem.message
    # A canonical value with no entry in a target's map: not written, reported, the rest goes through.
    written, problems = MAPPINGS.map_out("salesforce", "deal", {"name": "Renewal", "stage": "on_hold"})
    assert written == {"Name": "Renewal"}
    assert [p.code for p in problems] == ["unmapped_value"] and problems[0].direction == "out"


def test_hubspot_renewal_stages_are_open_stages_in_salesforce_and_dataverse() -> None:
    # StageName is required: a renewal deal from HubSpot must get some Salesforce stage to be created.
    for stage, salesforce, like in (
        ("75123457", "Prospecting", "prospecting"),
        ("75123458", "Negotiation/Review", "negotiation"),
    ):
        canonical = MAPPINGS.map_in("hubspot", "deal", {"pipeline": "75123456", "dealstage": stage}).fields
        assert MAPPINGS.map_out("salesforce", "deal", canonical) == ({"StageName": salesforce}, ())
        # Dataverse holds it open, at the sales stage of its sales-pipeline counterpart.
        dataverse = MAPPINGS.map_out("dynamics", "deal", canonical)
        assert dataverse == MAPPINGS.map_out("dynamics", "deal", {"stage": like})
        assert dataverse.fields["statecode"] == 0 and dataverse.problems == ()


def test_every_hubspot_industry_reads_and_other_is_written_blank() -> None:
    company = MAPPINGS.get("hubspot", "company")
    for industry in HUBSPOT_INDUSTRIES:
        assert company.map_in({"industry": industry}).problems == (), industry
    # HubSpot has no "Other": left blank there, without a sync error, and never made a law practice.
    assert company.map_out({"industry": "other"}) == ({"industry": None}, ())


def test_a_task_canceled_in_dataverse_is_closed_in_salesforce_and_hubspot() -> None:
    canonical = MAPPINGS.map_in("dynamics", "activity", {"statecode": 2, "statuscode": 6}).fields
    assert canonical == {"status": "canceled"}
    assert MAPPINGS.map_out("salesforce", "activity", canonical).fields == {"Status": "Completed"}
    assert MAPPINGS.map_out("hubspot", "activity", canonical).fields == {"hs_task_status": "COMPLETED"}


def test_invalid_email_is_kept_and_flagged() -> None:
    fields, problems = MAPPINGS.map_in("hubspot", "contact", {"email": " Not-An-Email "})
    assert fields == {"email": "not-an-email"}
    assert [p.code for p in problems] == ["flagged"] and not problems[0].skipped


def test_fields_not_read_are_not_mapped_and_blanks_are_none() -> None:
    assert MAPPINGS.map_in("salesforce", "contact", {}).fields == {}
    assert MAPPINGS.map_in("salesforce", "contact", {"Title": "  "}).fields == {"title": None}
    assert MAPPINGS.map_out("salesforce", "contact", {"title": None}).fields == {"Title": None}


def test_read_fields_lists_what_a_connector_must_select() -> None:
    assert {"pipeline", "dealstage", "dealname"} <= set(MAPPINGS.get("hubspot", "deal").read_fields)
