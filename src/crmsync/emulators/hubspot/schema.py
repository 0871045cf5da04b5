"""HubSpot object types and their property definitions (standard ones plus custom ones added at run time)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from crmsync.emulators.hubspot import options as opt
from crmsync.emulators.hubspot.pipelines import PIPELINES

PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool", "phone_number")
FIELD_TYPES = (
    "text",
    "textarea",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "number",
    "date",
    "file",
    "html",
    "phonenumber",
    "calculation_equation",
)
STANDARD_CREATED_ISO = "2019-08-06T02:41:44.631Z"


@dataclass(frozen=True, slots=True)
class ObjectType:
    name: str  # plural path name, e.g. "contacts"
    singular: str  # webhook and association name, e.g. "contact"
    type_id: str  # "0-1"
    created_prop: str
    modified_prop: str
    defaults: tuple[str, ...]  # properties returned when none are requested
    searchable: tuple[str, ...]  # properties the free-text `query` looks at
    group: str

    @property
    def label(self) -> str:
        return self.singular.upper()


_CONTACT_DEFAULTS = ("firstname", "lastname", "email")
OBJECT_TYPES: tuple[ObjectType, ...] = (
    ObjectType(
        "contacts",
        "contact",
        "0-1",
        "createdate",
        "lastmodifieddate",
        _CONTACT_DEFAULTS,
        ("firstname", "lastname", "email", "phone", "mobilephone", "company", "hs_additional_emails"),
        "contactinformation",
    ),
    ObjectType(
        "companies",
        "company",
        "0-2",
        "createdate",
        "hs_lastmodifieddate",
        ("name", "domain"),
        ("name", "domain", "website", "phone"),
        "companyinformation",
    ),
    ObjectType(
        "deals",
        "deal",
        "0-3",
        "createdate",
        "hs_lastmodifieddate",
        ("dealname", "amount", "closedate", "pipeline", "dealstage"),
        ("dealname",),
        "dealinformation",
    ),
    ObjectType("tasks", "task", "0-27", "hs_createdate", "hs_lastmodifieddate", (), ("hs_task_subject",), "task"),
    ObjectType("notes", "note", "0-46", "hs_createdate", "hs_lastmodifieddate", (), ("hs_note_body",), "note"),
    ObjectType(
        "meetings",
        "meeting",
        "0-47",
        "hs_createdate",
        "hs_lastmodifieddate",
        (),
        ("hs_meeting_title",),
        "meeting",
    ),
    ObjectType("calls", "call", "0-48", "hs_createdate", "hs_lastmodifieddate", (), ("hs_call_title",), "call"),
)
_BY_ALIAS: dict[str, ObjectType] = {}
for _ot in OBJECT_TYPES:
    for _alias in (_ot.name, _ot.singular, _ot.type_id):
        _BY_ALIAS[_alias] = _ot


def object_type(name: str) -> ObjectType | None:
    """By plural name, singular name or object type id (`contacts`, `contact`, `0-1`), as HubSpot accepts."""
    return _BY_ALIAS.get(name.lower())


@dataclass(frozen=True, slots=True)
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: tuple[str, ...] = ()
    unique: bool = False
    read_only: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    external_options: bool = False
    description: str = ""
    created_iso: str | None = STANDARD_CREATED_ISO
    display_order: int = -1
    option_labels: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def option_set(self) -> frozenset[str]:
        return frozenset(self.options)


def _p(name: str, label: str, type_: str = "string", field_type: str = "text", **kw: Any) -> PropertyDef:
    return PropertyDef(name, label, type_, field_type, kw.pop("group", ""), **kw)


def _enum(name: str, label: str, values: Iterable[str], field_type: str = "select", **kw: Any) -> PropertyDef:
    return _p(name, label, "enumeration", field_type, options=tuple(values), **kw)


def _system(ot: ObjectType) -> list[PropertyDef]:
    created_label = "Create Date" if ot.created_prop == "createdate" else "Created at"
    return [
        _p("hs_object_id", "Record ID", "number", "number", read_only=True),
        _p(ot.created_prop, created_label, "datetime", "date", read_only=True),
        _p(ot.modified_prop, "Last Modified Date", "datetime", "date", read_only=True, calculated=False),
        _enum("hs_merged_object_ids", "Merged Record IDs", (), "checkbox", read_only=True),
        _p("hs_object_source", "Record source", read_only=True),
        _p("hs_object_source_id", "Record source detail 1", read_only=True),
        _p("hs_object_source_label", "Record source label", read_only=True),
        _enum("hubspot_owner_id", "Owner", (), external_options=True, extra={"referencedObjectType": "OWNER"}),
    ]


_STAGE_IDS = tuple(stage.id for p in PIPELINES for stage in p.stages)
_STAGE_LABELS = tuple(f"{stage.label} ({p.label})" for p in PIPELINES for stage in p.stages)
_STANDARD: dict[str, list[PropertyDef]] = {
    "contacts": [
        _p("email", "Email", unique=True),
        _p("firstname", "First Name"),
        _p("lastname", "Last Name"),
        _p("phone", "Phone Number", "string", "phonenumber"),
        _p("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
        _p("company", "Company Name"),
        _p("jobtitle", "Job Title"),
        _p("website", "Website URL"),
        _p("address", "Street Address"),
        _p("city", "City"),
        _p("state", "State/Region"),
        _p("zip", "Postal Code"),
        _p("country", "Country/Region"),
        _enum("lifecyclestage", "Lifecycle Stage", opt.LIFECYCLE_STAGES, "radio"),
        _enum("hs_lead_status", "Lead Status", opt.LEAD_STATUSES, "radio"),
        _enum("hs_analytics_source", "Original Traffic Source", opt.ANALYTICS_SOURCES, read_only=True),
        _p("associatedcompanyid", "Primary Associated Company ID", "number", "number"),
        _enum("hs_additional_emails", "Additional email addresses", (), "checkbox", read_only=True),
        _p("hs_email_domain", "Email Domain", read_only=True, calculated=True),
    ],
    "companies": [
        _p("name", "Company name"),
        _p("domain", "Company Domain Name"),
        _p("website", "Website URL"),
        _enum("industry", "Industry", opt.INDUSTRIES),
        _p("phone", "Phone Number", "string", "phonenumber"),
        _p("address", "Street Address"),
        _p("city", "City"),
        _p("state", "State/Region"),
        _p("zip", "Postal Code"),
        _p("country", "Country/Region"),
        _p("numberofemployees", "Number of Employees", "number", "number"),
        _p("annualrevenue", "Annual Revenue", "number", "number", extra={"showCurrencySymbol": True}),
        _p("description", "Description", "string", "textarea"),
        _enum("lifecyclestage", "Lifecycle Stage", opt.LIFECYCLE_STAGES, "radio"),
        _p(
            "num_associated_contacts",
            "Number of Associated Contacts",
            "number",
            "number",
            read_only=True,
            calculated=True,
        ),
    ],
    "deals": [
        _p("dealname", "Deal Name"),
        _p("amount", "Amount", "number", "number", extra={"showCurrencySymbol": True}),
        _p("closedate", "Close Date", "datetime", "date"),
        _enum(
            "pipeline",
            "Pipeline",
            tuple(p.id for p in PIPELINES),
            option_labels=tuple(p.label for p in PIPELINES),
        ),
        _enum("dealstage", "Deal Stage", _STAGE_IDS, "radio", option_labels=_STAGE_LABELS),
        _enum("dealtype", "Deal Type", opt.DEAL_TYPES, "radio"),
        _p("description", "Deal Description", "string", "textarea"),
        _p("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", read_only=True, calculated=True),
        _p("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", read_only=True, calculated=True),
        _p(
            "hs_deal_stage_probability",
            "Deal Stage Probability",
            "number",
            "number",
            read_only=True,
            calculated=True,
        ),
    ],
    "tasks": [
        _p("hs_timestamp", "Due date", "datetime", "date"),
        _p("hs_task_subject", "Task Title"),
        _p("hs_task_body", "Notes", "string", "html"),
        _enum("hs_task_status", "Task Status", opt.TASK_STATUSES),
        _enum("hs_task_priority", "Priority", opt.TASK_PRIORITIES),
        _enum("hs_task_type", "Task Type", opt.TASK_TYPES),
    ],
    "notes": [
        _p("hs_timestamp", "Activity date", "datetime", "date"),
        _p("hs_note_body", "Note body", "string", "html"),
    ],
    "calls": [
        _p("hs_timestamp", "Activity date", "datetime", "date"),
        _p("hs_call_title", "Call Title"),
        _p("hs_call_body", "Call notes", "string", "html"),
        _p("hs_call_duration", "Call duration (ms)", "number", "number"),
        _enum("hs_call_direction", "Call direction", opt.CALL_DIRECTIONS),
        _enum("hs_call_status", "Call status", opt.CALL_STATUSES),
    ],
    "meetings": [
        _p("hs_timestamp", "Activity date", "datetime", "date"),
        _p("hs_meeting_title", "Meeting name"),
        _p("hs_meeting_body", "Meeting description", "string", "html"),
        _p("hs_meeting_start_time", "Start Time", "datetime", "date"),
        _p("hs_meeting_end_time", "End Time", "datetime", "date"),
        _enum("hs_meeting_outcome", "Meeting outcome", opt.MEETING_OUTCOMES),
    ],
}


class PropertyCatalog:
    """The properties of every object type: HubSpot's standard set plus custom properties."""

    def __init__(self) -> None:
        self._props: dict[str, dict[str, PropertyDef]] = {}
        self.reset()

    def reset(self) -> None:
        self._props = {}
        for ot in OBJECT_TYPES:
            defs = [
                *(_with_group(d, ot.group) for d in _STANDARD[ot.name]),
                *(_with_group(d, ot.group) for d in _system(ot)),
            ]
            self._props[ot.name] = {d.name: d for d in defs}

    def of(self, ot: ObjectType) -> dict[str, PropertyDef]:
        return self._props[ot.name]

    def get(self, ot: ObjectType, name: str) -> PropertyDef | None:
        return self._props[ot.name].get(name)

    def add(self, ot: ObjectType, prop: PropertyDef) -> None:
        self._props[ot.name][prop.name] = prop

    def unique_names(self, ot: ObjectType) -> tuple[str, ...]:
        return tuple(name for name, d in self._props[ot.name].items() if d.unique)


def _with_group(prop: PropertyDef, group: str) -> PropertyDef:
    return prop if prop.group else replace(prop, group=group)
