"""`crmsync check`'s comparison: hand-built field maps against hand-built vendor descriptions."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from crmsync.config import SyncConfig, parse_config
from crmsync.connectors.base import FieldSchema, FieldType, ObjectSchema
from crmsync.engine.schema_check import CheckTarget, Discovery, check_config, check_object, check_value_coverage
from crmsync.engine.schema_findings import Finding, Remedy
from crmsync.engine.schema_fix import discover
from crmsync.engine.schema_report import admin_tasks, automatic_fixes, blocking, connection_failure
from crmsync.errors import AuthError, ConfigError, TransientError
from crmsync.mapping import Mappings, ObjectMap, default_mappings, parse_mappings
from crmsync.model.rules import Direction, SyncRules
from crmsync.model.values import ObjectKind


def field(name: str, type: FieldType = "string", **flags: object) -> FieldSchema:
    return FieldSchema(name=name, type=type, **flags)  # type: ignore[arg-type]


def schema(name: str, *fields: FieldSchema, stages: dict[str, tuple[str, bool, bool]] | None = None) -> ObjectSchema:
    return ObjectSchema(name, name, {f.name: f for f in fields}, "Id", "SystemModstamp", stages or {})


def contact_map(text: str = "") -> ObjectMap:
    maps = parse_mappings(
        """
contact:
  object: {salesforce: Contact}
  fields:
    email: {transform: email, salesforce: Email}
    last_name: {salesforce: LastName}
"""
        + text,
        "test.yaml",
        defaults=False,
    )
    return maps.get("salesforce", "contact")


def of(findings: Iterable[Finding], severity: str) -> list[Finding]:
    return [f for f in findings if f.severity == severity]


EXT = field("Crmsync_Id__c", external_id=True, unique=True, length=64)


def test_a_complete_object_has_only_an_info_line() -> None:
    described = schema("Contact", field("Email", "email"), field("LastName", required=True), EXT)
    findings = check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c")
    assert [f.severity for f in findings] == ["info"]
    assert "all 2 mapped fields found" in findings[0].message
    assert not blocking(findings)


def test_a_missing_mapped_field_is_an_error_with_a_suggestion() -> None:
    described = schema("Contact", field("Emial", "email"), field("LastName"), EXT)
    errors = of(check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c"), "error")
    assert [(f.connection, f.object, f.field) for f in errors] == [("sf", "Contact", "Email")]
    assert "does not exist in Contact" in errors[0].message
    assert "did you mean Emial?" in errors[0].message
    assert errors[0].fix is not None and "test.yaml:" in errors[0].fix


def test_a_read_only_field_is_an_error_only_when_it_is_written() -> None:
    described = schema("Contact", field("Email", "email", read_only=True), field("LastName"), EXT)
    errors = of(check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c"), "error")
    assert [f.field for f in errors] == ["Email"]
    assert "read-only" in errors[0].message
    only_read = SyncRules(("sf", "hs"), directions={"email": Direction.to("hs")})
    assert not blocking(check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c", rules=only_read))


LEAD_SOURCE = """
    lead_source:
      salesforce:
        field: LeadSource
        values: {Web: web, Phone Inquiry: phone, phone inquiry (old): phone, Fax: fax}
"""


def test_value_map_entries_are_checked_against_the_picklist() -> None:
    picklist = field("LeadSource", "picklist", picklist_values=("Web", "Phone Inquiry", "Partner", "Trade Show"))
    described = schema("Contact", field("Email", "email"), field("LastName"), EXT, picklist)
    findings = check_object("sf", "salesforce", contact_map(LEAD_SOURCE), described, "Crmsync_Id__c")
    errors = of(findings, "error")
    # `Fax` is written for `fax`: the vendor would refuse it.
    assert [f.field for f in errors] == ["LeadSource"]
    assert "'Fax'" in errors[0].message and "'fax'" in errors[0].message
    warnings = of(findings, "warning")
    never_read = [f for f in warnings if "never read" in f.message]
    assert len(never_read) == 1 and "phone inquiry (old)" in never_read[0].message
    # Vendor values with no entry are not read: "would not be written" sent people looking at the wrong side.
    unmapped = [f for f in warnings if f.message.startswith("unmapped: not read")]
    assert len(unmapped) == 1
    assert "Partner, Trade Show" in unmapped[0].message  # every unmapped vendor value is listed (S20)


def test_entries_an_unrestricted_picklist_does_not_list_are_no_error() -> None:
    # Most of Salesforce's standard picklists take values they do not list (`restrictedPicklist` false).
    picklist = field("LeadSource", "picklist", picklist_values=("Web", "Phone Inquiry"), restricted=False)
    described = schema("Contact", field("Email", "email"), field("LastName"), EXT, picklist)
    findings = check_object("sf", "salesforce", contact_map(LEAD_SOURCE), described, "Crmsync_Id__c")
    assert not [f for f in findings if f.field == "LeadSource" and f.severity == "error"]
    assert not [f for f in of(findings, "warning") if "never read" in f.message]
    [unlisted] = [f for f in of(findings, "info") if f.field == "LeadSource" and "unrestricted" in f.message]
    assert unlisted.message.endswith(": phone inquiry (old), Fax")


def test_unmapped_values_are_not_listed_for_a_field_never_read_from_the_connection() -> None:
    picklist = field("LeadSource", "picklist", picklist_values=("Web", "Phone Inquiry", "Fax", "Partner"))
    described = schema("Contact", field("Email", "email"), field("LastName"), EXT, picklist)
    rules = SyncRules(("sf", "hs"), directions={"lead_source": Direction.to("sf")})
    findings = check_object("sf", "salesforce", contact_map(LEAD_SOURCE), described, "Crmsync_Id__c", rules=rules)
    assert not [f for f in findings if f.message.startswith("unmapped")]


def test_a_value_map_on_a_free_text_field_is_reported_as_not_checked() -> None:
    described = schema("Contact", field("Email", "email"), field("LastName"), EXT, field("LeadSource"))
    findings = check_object("sf", "salesforce", contact_map(LEAD_SOURCE), described, "Crmsync_Id__c")
    infos = [f for f in of(findings, "info") if f.field == "LeadSource"]
    assert len(infos) == 1 and "not a picklist" in infos[0].message
    assert not blocking(findings)


def test_required_fields_without_a_written_mapping_are_named() -> None:
    described = schema(
        "Contact",
        field("Email", "email"),
        field("LastName", required=True),
        field("Region__c", required=True),
        field("AccountId", "reference", required=True, references=("Account",)),
        EXT,
    )
    findings = check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c")
    errors = of(findings, "error")
    assert [f.field for f in errors] == ["Region__c"]
    assert "required field Region__c has no mapping" in errors[0].message
    assert [f.field for f in of(findings, "warning")] == ["AccountId"]
    from_only = SyncRules(("sf", "hs"), directions={"last_name": Direction.from_("sf")})
    findings = check_object("sf", "salesforce", contact_map(), described, "Crmsync_Id__c", rules=from_only)
    assert {f.field for f in of(findings, "error")} == {"Region__c", "LastName"}


def test_an_unconfigured_external_id_is_a_warning_with_what_to_create() -> None:
    described = schema("Contact", field("Email", "email"), field("LastName"))
    findings = check_object("sf", "salesforce", contact_map(), described, None)
    assert not blocking(findings)
    [warning] = of(findings, "warning")
    assert warning.remedy == Remedy("salesforce", "sf", "Contact", "Crmsync_Id__c", automatic=False, configure=True)
    # Dataverse makes the column once it is named: the setting to add, then --fix.
    [named] = of(check_object("dv", "dynamics", contact_map(), described, None), "warning")
    assert named.remedy == Remedy("dynamics", "dv", "Contact", "new_crmsyncid", automatic=True, configure=True)
    assert named.fix is not None and named.fix.endswith("then `--fix` creates it")
    assert automatic_fixes([named]) == ()  # nothing to create until crmsync.yaml names it


def test_a_dataverse_key_still_building_is_fixed_by_waiting_for_it() -> None:
    described = schema("Contact", field("Email", "email"), field("LastName"), field("new_crmsyncid", custom=True))
    [error] = of(check_object("dv", "dynamics", contact_map(), described, "new_crmsyncid"), "error")
    assert "no active alternate key (none, or its index is still building)" in error.message
    assert automatic_fixes([error]) == (Remedy("dynamics", "dv", "Contact", "new_crmsyncid", automatic=True),)


@pytest.mark.parametrize(
    ("vendor", "automatic"),
    [("salesforce", False), ("hubspot", True), ("dynamics", True)],
)
def test_a_missing_external_id_field_is_an_error_fixed_automatically_except_in_salesforce(
    vendor: str, automatic: bool
) -> None:
    described = schema("Contact", field("Email", "email"), field("LastName"))
    [error] = of(check_object("c", vendor, contact_map(), described, "crmsync_id"), "error")
    assert error.field == "crmsync_id"
    assert error.remedy == Remedy(vendor, "c", "Contact", "crmsync_id", automatic=automatic)
    assert automatic_fixes([error]) == ((error.remedy,) if automatic else ())


@pytest.mark.parametrize(
    ("vendor", "ext", "expected"),
    [
        ("salesforce", field("X__c", unique=True), "not marked External ID"),
        ("hubspot", field("x", external_id=False), "not unique"),
        ("dynamics", field("x", external_id=True), "no active alternate key"),
        ("salesforce", field("X__c", external_id=True, unique=True, length=20), "holds 20 characters"),
    ],
)
def test_an_external_id_field_must_be_an_enforced_key(vendor: str, ext: FieldSchema, expected: str) -> None:
    described = schema("Contact", field("Email", "email"), field("LastName"), ext)
    [error] = of(check_object("c", vendor, contact_map(), described, ext.name), "error")
    assert expected in error.message


def hubspot_deals() -> ObjectSchema:
    stages = {
        "default:appointmentscheduled": ("Appointment Scheduled", False, False),
        "default:qualifiedtobuy": ("Qualified To Buy", False, False),
        "default:presentationscheduled": ("Presentation Scheduled", False, False),
        "default:decisionmakerboughtin": ("Decision Maker Bought-In", False, False),
        "default:contractsent": ("Contract Sent", False, False),
        "default:closedwon": ("Closed Won", True, True),
        "default:closedlost": ("Closed Lost", True, False),
        "75123456:75123457": ("Renewal Due", False, False),
        "75123456:75123458": ("Negotiating", False, False),
        "75123456:75123459": ("Renewed", True, True),
        "75123456:75123460": ("Churned", True, False),
    }
    return deals_schema(stages)


def deals_schema(stages: dict[str, tuple[str, bool, bool]]) -> ObjectSchema:
    pipelines = tuple(dict.fromkeys(key.split(":")[0] for key in stages))
    dealstages = tuple(dict.fromkeys(key.split(":")[1] for key in stages))
    return schema(
        "deals",
        field("dealname"),
        field("amount", "currency"),
        field("closedate", "datetime"),
        field("pipeline", "picklist", picklist_values=pipelines),
        field("dealstage", "picklist", picklist_values=dealstages),
        field("dealtype", "picklist", picklist_values=("newbusiness", "existingbusiness")),
        field("description", "text"),
        field("crmsync_id", unique=True, external_id=True),
        stages=stages,
    )


def test_hubspot_pipeline_stage_keys_are_checked_against_the_pipelines() -> None:
    deals = default_mappings().get("hubspot", "deal")
    assert check_object("hs", "hubspot", deals, hubspot_deals(), "crmsync_id")[0].severity == "info"
    stages = {**hubspot_deals().stages, "default:demo": ("Demo booked", False, False)}
    stages.pop("75123456:75123457")  # renewal_due is written to a stage that no longer exists
    findings = check_object("hs", "hubspot", deals, deals_schema(stages), "crmsync_id")
    [error] = of(findings, "error")
    assert "'75123456:75123457'" in error.message and "renewal_due" in error.message
    [unmapped] = of(findings, "warning")
    assert "default:demo (Demo booked)" in unmapped.message


def dataverse_opportunity(salesstages: tuple[str, ...] = ("0", "1", "2", "3")) -> ObjectSchema:
    return schema(
        "opportunity",
        field("name", required=True),
        field("estimatedvalue", "currency"),
        field("estimatedclosedate", "date"),
        field("statecode", "picklist", picklist_values=("0", "1", "2")),
        field("statuscode", "picklist", picklist_values=("1", "2", "3", "4", "5")),
        field("salesstage", "picklist", picklist_values=salesstages),
        field("description", "text"),
        field("new_crmsyncid", unique=True, external_id=True, length=100),
        stages={
            "0:1": ("In Progress", False, False),
            "0:2": ("On Hold", False, False),
            "1:3": ("Won", True, True),
            "2:4": ("Canceled", True, False),
            "2:5": ("Out-Sold", True, False),
        },
    )


def test_dataverse_opportunity_state_is_understood_without_false_alarms() -> None:
    opportunity = default_mappings().get("dynamics", "deal")
    findings = check_object("dv", "dynamics", opportunity, dataverse_opportunity(), "new_crmsyncid")
    assert [f.severity for f in findings] == ["info"]
    more_stages = dataverse_opportunity(("0", "1", "2", "3", "4"))
    [unmapped] = of(check_object("dv", "dynamics", opportunity, more_stages, "new_crmsyncid"), "warning")
    # Won and lost deals read whatever their sales stage; only an open deal at stage 4 has no entry.
    assert unmapped.message.endswith(": open:4 (as statecode=0, statuscode=1, salesstage=4)")


def dataverse_task(statuses: tuple[str, ...]) -> ObjectSchema:
    return schema(
        "task",
        field("subject"),
        field("description", "text"),
        field("scheduledend", "datetime"),
        field("statecode", "picklist", picklist_values=("0", "1", "2")),
        field("statuscode", "picklist", picklist_values=statuses),
        field("prioritycode", "picklist", picklist_values=("0", "1", "2")),
        field("new_crmsyncid", unique=True, external_id=True, length=100),
    )


def test_a_joined_state_and_status_lists_a_status_no_combination_maps() -> None:
    task = default_mappings().get("dynamics", "activity")
    statuses = ("2", "3", "4", "7", "5", "6")
    findings = check_object("dv", "dynamics", task, dataverse_task(statuses), "new_crmsyncid")
    assert not of(findings, "warning") and not of(findings, "error")
    # Which status belongs to which state is not described: the check says how far it went.
    assert any("checked on its own" in f.message for f in of(findings, "info"))
    findings = check_object("dv", "dynamics", task, dataverse_task((*statuses, "99")), "new_crmsyncid")
    [unmapped] = of(findings, "warning")
    assert unmapped.message.endswith(": statuscode=99")


STAGES_WITH_GAPS = """
deal:
  object: {salesforce: Opportunity, hubspot: deals}
  fields:
    stage:
      salesforce: {field: StageName, values: {Prospecting: prospecting, Closed Lost: closed_lost}}
      hubspot:
        field: dealstage
        values: {appointmentscheduled: prospecting, renewaldue: renewal_due, lost: closed_lost, gone: churned}
"""


def test_canonical_values_one_connection_reads_and_another_cannot_write_are_listed() -> None:
    maps = parse_mappings(STAGES_WITH_GAPS, "test.yaml", defaults=False)
    deals = {"sf": maps.get("salesforce", "deal"), "hs": maps.get("hubspot", "deal")}
    [gap] = [f for f in check_value_coverage(deals) if f.connection == "sf"]
    assert (gap.severity, gap.field) == ("warning", "StageName")
    assert "renewal_due (from hs)" in gap.message and "churned (from hs)" in gap.message
    never_from_hs = SyncRules(("sf", "hs"), directions={"stage": Direction.from_("sf")})
    assert not [f for f in check_value_coverage(deals, never_from_hs) if f.connection == "sf"]


def test_values_declared_blank_are_an_info_line_not_a_gap() -> None:
    text = STAGES_WITH_GAPS.replace("Closed Lost: closed_lost}", "Closed Lost: closed_lost}, blank_for: [churned]")
    maps = parse_mappings(text, "test.yaml", defaults=False)
    findings = check_value_coverage({"sf": maps.get("salesforce", "deal"), "hs": maps.get("hubspot", "deal")})
    [gap] = of(findings, "warning")
    assert "renewal_due (from hs)" in gap.message and "churned" not in gap.message
    [blank] = of(findings, "info")
    assert blank.message.startswith("written blank, as the value map says (blank_for)")
    assert "churned (from hs)" in blank.message


@pytest.mark.parametrize("kind", ["company", "contact", "deal", "activity"])
def test_the_shipped_value_maps_write_every_value_another_crm_reads(kind: ObjectKind) -> None:
    maps = default_mappings()
    present = {
        vendor: maps.get(vendor, kind) for vendor in ("salesforce", "hubspot", "dynamics") if maps.has(vendor, kind)
    }
    assert [f.message for f in check_value_coverage(present) if f.severity != "info"] == []


def test_a_connection_failure_names_the_connection_and_never_its_secret() -> None:
    error = AuthError("hs: hubspot contacts describe: token pat-very-secret-token refused")
    finding = connection_failure("hs", None, error, ("pat-very-secret-token",))
    assert finding.severity == "error" and finding.connection == "hs"
    assert finding.message.startswith("authentication failed: hubspot contacts describe")
    assert "pat-very-secret-token" not in finding.message and "***" in finding.message
    timeout = connection_failure("sf", "Contact", TimeoutError(), timeout=2.5)
    assert "no answer within 2.5 s" in timeout.message
    assert "unreachable" in connection_failure("sf", "Contact", TransientError("sf: network error")).message


CONFIG = """\
connections:
  sf:
    vendor: salesforce
    auth_flow: client_credentials
    login_url: https://example.my.salesforce.com
    client_id: app
    client_secret: {env: SF_SECRET}
    external_id_fields: {Account: Crmsync_Id__c}
  hs:
    vendor: hubspot
    access_token: {env: HS_TOKEN}
objects:
  contact:
    connections: [sf, hs]
"""


ENVIRON = {"SF_SECRET": "s3cret-value", "HS_TOKEN": "pat-token"}


def config() -> SyncConfig:
    return parse_config(CONFIG, "crmsync.yaml", environ=ENVIRON)


def test_check_config_reports_a_failed_connection_once_and_checks_the_others() -> None:
    cfg = config()
    failure = connection_failure("sf", None, AuthError("sf: login refused"))
    contacts = schema(
        "contacts",
        *(field(name) for name in default_mappings().get("hubspot", "contact").read_fields),
        field("crmsync_id", unique=True),
    )
    findings = check_config(cfg, Discovery({("hs", "contacts"): contacts}, {("sf", None): failure}))
    assert of(findings, "error") == [failure]
    assert any(f.connection == "hs" and f.severity == "info" for f in findings)


def test_admin_tasks_list_what_to_create_and_the_complete_setting() -> None:
    cfg = config()
    findings = [
        Finding(
            "warning",
            "sf",
            "Contact",
            None,
            "no external id",
            remedy=Remedy("salesforce", "sf", "Contact", "Crmsync_Id__c", False, True),
        ),
        Finding(
            "error",
            "hs",
            "contacts",
            "crmsync_id",
            "missing",
            remedy=Remedy("hubspot", "hs", "contacts", "crmsync_id", True),
        ),
    ]
    [task] = admin_tasks(findings, cfg)
    assert task.connection == "sf"
    assert task.rows == (("Contact", "Crmsync_Id__c", "Text(64)", "External ID, Unique (case sensitive)"),)
    # The setting keeps what is configured already, so pasting it loses nothing.
    assert task.config == "external_id_fields: {Account: Crmsync_Id__c, Contact: Crmsync_Id__c}"


def test_defaults_check_clean_against_their_own_vendor_values() -> None:
    mappings: Mappings = default_mappings()
    contact = mappings.get("hubspot", "contact")
    described = schema("contacts", *(field(name) for name in contact.read_fields), field("crmsync_id", unique=True))
    assert not blocking(check_object("hs", "hubspot", contact, described, "crmsync_id"))


def test_a_key_joining_two_valid_values_into_no_stage_is_an_error() -> None:
    deals = parse_mappings(
        """
deal:
  object: {hubspot: deals}
  fields:
    stage:
      hubspot:
        field: [pipeline, dealstage]
        transform: join
        values: {"default:closedwon": closed_won, "default:75123459": renewed}
""",
        "test.yaml",
        defaults=False,
    ).get("hubspot", "deal")
    [error] = of(check_object("hs", "hubspot", deals, hubspot_deals(), "crmsync_id"), "error")
    assert "'default:75123459' is not one of deals's stages" in error.message
    assert "writing 'renewed' here fails" in error.message


class FakeConnector:
    """Answers describe() from a table: a schema, or the error the CRM would cause."""

    def __init__(self, name: str, answers: dict[str, ObjectSchema | Exception]) -> None:
        self.connection = name
        self.vendor = "salesforce"
        self.answers = answers
        self.asked: list[str] = []

    async def describe(self, object: str) -> ObjectSchema:
        self.asked.append(object)
        answer = self.answers[object]
        if isinstance(answer, Exception):
            raise answer
        return answer


def targets_for(connection: str, *objects: str) -> list[CheckTarget]:
    maps = default_mappings()
    by_object = {m.object: m for m in maps if m.vendor == "salesforce"}
    return [CheckTarget(by_object[o].kind, connection, "salesforce", by_object[o], None) for o in objects]


async def test_discover_reports_a_refused_connection_once_and_asks_it_nothing_more() -> None:
    refused = FakeConnector("sf", {"Account": AuthError("sf: token request: invalid_client s3cret-value")})
    found = await discover(
        targets_for("sf", "Account", "Contact"),
        {"sf": refused},
        secrets={"sf": ("s3cret-value",)},
    )
    assert refused.asked == ["Account"]
    assert list(found.failures) == [("sf", None)]
    failure = found.failures[("sf", None)]
    assert failure.object == "(connection)" and "s3cret-value" not in failure.message


async def test_discover_keeps_the_objects_that_answered() -> None:
    account = schema("Account", field("Name"))
    partial = FakeConnector("sf", {"Account": account, "Contact": ConfigError("sf: Contact: not visible to the user")})
    found = await discover(targets_for("sf", "Account", "Contact"), {"sf": partial})
    assert found.schemas == {("sf", "Account"): account}
    assert found.failures[("sf", "Contact")].message == "refused: Contact: not visible to the user"


def test_links_to_a_kind_objects_does_not_sync_are_named_once_per_connection() -> None:
    findings = [f for f in check_config(config(), Discovery()) if f.field == "@company"]  # contacts only
    assert [(f.severity, f.connection, f.object) for f in findings] == [
        ("info", "sf", "Contact"),
        ("info", "hs", "contacts"),
    ]
    assert findings[0].message == "contacts' links to their company are not synced: `objects:` does not sync company"
    assert findings[0].fix == "add `company: {}` under objects to sync companies and these links"
    cfg = parse_config(CONFIG + "  company:\n    connections: [sf, hs]\n", "crmsync.yaml", environ=ENVIRON)
    assert [f for f in check_config(cfg, Discovery()) if f.field == "@company"] == []
