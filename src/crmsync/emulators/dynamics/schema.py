"""Table and column definitions of the emulated Dataverse tables (types, lengths, option sets, lookups, keys)."""

from __future__ import annotations

from dataclasses import dataclass, field

from crmsync.emulators.dynamics.config import CustomColumn, DynamicsConfig

EDM_TYPES = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "EntityName": "Edm.String",
    "Integer": "Edm.Int32",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Decimal": "Edm.Decimal",
    "Money": "Edm.Decimal",
    "Double": "Edm.Double",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "DateOnly": "Edm.Date",
    "Uniqueidentifier": "Edm.Guid",
    "Lookup": "Edm.Guid",
    "Customer": "Edm.Guid",
    "Owner": "Edm.Guid",
}
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
OPTION_TYPES = frozenset({"Picklist", "State", "Status"})

# Where a column's value lives: in the record's fields, or in the store's bookkeeping.
SOURCE_FIELD = 0
SOURCE_CREATED = 1
SOURCE_MODIFIED = 2
SOURCE_VERSION = 3
SOURCE_CREATED_BY = 4
SOURCE_MODIFIED_BY = 5
SOURCE_ID = 6


@dataclass(slots=True)
class Column:
    """One attribute of a table, as `EntityDefinitions(...)/Attributes` describes it."""

    name: str
    type: str
    schema_name: str = ""
    max_length: int | None = None
    required: str = "None"
    create: bool = True
    update: bool = True
    options: dict[int, str] = field(default_factory=dict)
    state_of: dict[int, int] = field(default_factory=dict)  # Status value -> its State value
    targets: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    custom: bool = False
    source: int = SOURCE_FIELD

    def __post_init__(self) -> None:
        if not self.schema_name:
            self.schema_name = self.name if self.custom else _schema_case(self.name)

    @property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @property
    def property_name(self) -> str:
        """The name the Web API reads it by (`_x_value` for lookups)."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @property
    def edm_type(self) -> str:
        return EDM_TYPES[self.type]

    @property
    def attribute_type(self) -> str:
        """AttributeType as metadata reports it (DateOnly columns are DateTime with a DateOnly format)."""
        return "DateTime" if self.type == "DateOnly" else self.type


@dataclass(slots=True)
class Table:
    """One table: its entity set, keys, columns and single-valued navigation properties."""

    logical_name: str
    entity_set: str
    schema_name: str
    primary_id: str
    primary_name: str | None
    object_type_code: int
    display_name: str
    columns: dict[str, Column]
    is_activity: bool = False
    mergeable: bool = False
    navs: dict[str, tuple[str, str]] = field(default_factory=dict)  # nav name -> (column, target table)
    keys: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    default_status: dict[int, int] = field(default_factory=dict)  # state -> default status
    properties: dict[str, Column] = field(default_factory=dict)  # `_x_value`-style name -> column

    @property
    def odata_type(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    def finish(self) -> None:
        """Derive navigation properties and readable property names once the columns are final."""
        self.properties = {col.property_name: col for col in self.columns.values()}
        self.navs = {}
        for col in self.columns.values():
            if not col.is_lookup or col.name in ("createdby", "modifiedby"):
                continue
            if len(col.targets) == 1:
                nav = col.schema_name if col.custom else col.name
                self.navs[nav] = (col.name, col.targets[0])
            elif self.is_activity and col.name == "regardingobjectid":
                for target in col.targets:
                    self.navs[f"regardingobjectid_{target}_{self.logical_name}"] = (col.name, target)
            else:
                for target in col.targets:
                    self.navs[f"{col.name}_{target}"] = (col.name, target)


def _schema_case(name: str) -> str:
    # Standard columns' SchemaName is PascalCase; a readable approximation is enough for metadata.
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


INDUSTRY = {
    1: "Accounting",
    2: "Agriculture and Non-petrol Natural Resource Extraction",
    3: "Broadcasting Printing and Publishing",
    4: "Brokers",
    5: "Building Supply Retail",
    6: "Business Services",
    7: "Consulting",
    8: "Consumer Services",
    9: "Design, Direction and Creative Management",
    10: "Distributors, Dispatchers and Processors",
    11: "Doctor's Offices and Clinics",
    12: "Durable Manufacturing",
    13: "Eating and Drinking Places",
    14: "Entertainment Retail",
    15: "Equipment Rental and Leasing",
    16: "Financial",
    17: "Food and Tobacco Processing",
    18: "Inbound Capital Intensive Processing",
    19: "Inbound Repair and Services",
    20: "Insurance",
    21: "Legal Services",
    22: "Non-Durable Merchandise Retail",
    23: "Outbound Consumer Service",
    24: "Petrochemical Extraction and Distribution",
    25: "Service Retail",
    26: "SIG Affiliations",
    27: "Social Services",
    28: "Special Outbound Trade Contractors",
    29: "Specialty Realty",
    30: "Transportation",
    31: "Utility Creation and Distribution",
    32: "Vehicle Retail",
    33: "Wholesale",
}
PRIORITY = {0: "Low", 1: "Normal", 2: "High"}
SALES_STAGE = {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"}
ACTIVE_STATES = ({0: "Active", 1: "Inactive"}, {1: "Active", 2: "Inactive"}, {1: 0, 2: 1})
OPPORTUNITY_STATES = (
    {0: "Open", 1: "Won", 2: "Lost"},
    {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"},
    {1: 0, 2: 0, 3: 1, 4: 2, 5: 2},
)
TASK_STATES = (
    {0: "Open", 1: "Completed", 2: "Canceled"},
    {2: "Not Started", 3: "In Progress", 4: "Waiting on someone else", 7: "Deferred", 5: "Completed", 6: "Canceled"},
    {2: 0, 3: 0, 4: 0, 7: 0, 5: 1, 6: 2},
)
PHONECALL_STATES = (
    {0: "Open", 1: "Completed", 2: "Canceled"},
    {1: "Open", 2: "Made", 4: "Received", 3: "Canceled"},
    {1: 0, 2: 1, 4: 1, 3: 2},
)
APPOINTMENT_STATES = (
    {0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"},
    {1: "Free", 2: "Tentative", 3: "Completed", 4: "Canceled", 5: "Busy", 6: "Out of Office"},
    {1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 3},
)
DEFAULT_STATUS = {
    "active": {0: 1, 1: 2},
    "opportunity": {0: 1, 1: 3, 2: 4},
    "task": {0: 2, 1: 5, 2: 6},
    "phonecall": {0: 1, 1: 2, 2: 3},
    "appointment": {0: 1, 1: 3, 2: 4, 3: 5},
}
ACTIVITY_TARGETS = ("account", "contact", "opportunity")


def _s(name: str, length: int, required: str = "None", **kw: object) -> Column:
    return Column(name, "String", max_length=length, required=required, **kw)  # type: ignore[arg-type]


def _state_columns(states: tuple[dict[int, str], dict[int, str], dict[int, int]]) -> list[Column]:
    return [
        Column("statecode", "State", required="SystemRequired", create=False, options=states[0]),
        Column("statuscode", "Status", options=states[1], state_of=states[2]),
    ]


def _system_columns(primary_id: str) -> list[Column]:
    return [
        Column(primary_id, "Uniqueidentifier", required="SystemRequired", update=False, source=SOURCE_ID),
        Column("createdon", "DateTime", create=False, update=False, source=SOURCE_CREATED),
        Column("modifiedon", "DateTime", create=False, update=False, source=SOURCE_MODIFIED),
        Column("versionnumber", "BigInt", create=False, update=False, source=SOURCE_VERSION),
        Column("createdby", "Lookup", targets=("systemuser",), create=False, update=False, source=SOURCE_CREATED_BY),
        Column("modifiedby", "Lookup", targets=("systemuser",), create=False, update=False, source=SOURCE_MODIFIED_BY),
        Column("ownerid", "Owner", required="SystemRequired", targets=("systemuser",)),
    ]


def _address() -> list[Column]:
    return [
        _s("address1_line1", 250),
        _s("address1_city", 80),
        _s("address1_stateorprovince", 50),
        _s("address1_postalcode", 20),
        _s("address1_country", 80),
    ]


def _table(
    logical: str,
    entity_set: str,
    primary_id: str,
    primary_name: str | None,
    otc: int,
    display: str,
    columns: list[Column],
    *,
    activity: bool = False,
    mergeable: bool = False,
    status: str | None = None,
) -> Table:
    cols = {c.name: c for c in [*_system_columns(primary_id), *columns]}
    return Table(
        logical_name=logical,
        entity_set=entity_set,
        schema_name=_schema_case(logical),
        primary_id=primary_id,
        primary_name=primary_name,
        object_type_code=otc,
        display_name=display,
        columns=cols,
        is_activity=activity,
        mergeable=mergeable,
        default_status=DEFAULT_STATUS.get(status or "", {}),
    )


def _activity(logical: str, entity_set: str, otc: int, display: str, states: object, extra: list[Column]) -> Table:
    assert isinstance(states, tuple)
    return _table(
        logical,
        entity_set,
        "activityid",
        "subject",
        otc,
        display,
        [
            _s("subject", 200),
            Column("description", "Memo", max_length=2000),
            Column("scheduledstart", "DateTime"),
            Column("scheduledend", "DateTime"),
            Column("actualdurationminutes", "Integer", min_value=0, max_value=2_147_483_647),
            Column("prioritycode", "Picklist", options=PRIORITY),
            Column("regardingobjectid", "Lookup", targets=ACTIVITY_TARGETS),
            Column("activitytypecode", "EntityName", create=False, update=False),
            *_state_columns(states),
            *extra,
        ],
        activity=True,
        status=logical,
    )


def standard_tables() -> dict[str, Table]:
    """The standard tables every org has, before configuration adds custom columns and keys."""
    tables = [
        _table(
            "account",
            "accounts",
            "accountid",
            "name",
            1,
            "Account",
            [
                _s("name", 160, "ApplicationRequired"),
                _s("accountnumber", 20),
                _s("telephone1", 50),
                _s("emailaddress1", 100),
                _s("websiteurl", 200),
                *_address(),
                Column("industrycode", "Picklist", options=INDUSTRY),
                Column("numberofemployees", "Integer", min_value=0, max_value=1_000_000_000),
                Column("revenue", "Money", min_value=0, max_value=100_000_000_000_000),
                Column("description", "Memo", max_length=2000),
                Column("parentaccountid", "Lookup", targets=("account",)),
                Column("primarycontactid", "Lookup", targets=("contact",)),
                Column("merged", "Boolean", create=False, update=False),
                Column("masterid", "Lookup", targets=("account",), create=False, update=False),
                *_state_columns(ACTIVE_STATES),
            ],
            mergeable=True,
            status="active",
        ),
        _table(
            "contact",
            "contacts",
            "contactid",
            "fullname",
            2,
            "Contact",
            [
                _s("firstname", 50, "Recommended"),
                _s("lastname", 50, "ApplicationRequired"),
                _s("fullname", 160, create=False, update=False),
                _s("emailaddress1", 100),
                _s("telephone1", 50),
                _s("mobilephone", 50),
                _s("jobtitle", 100),
                *_address(),
                Column("description", "Memo", max_length=2000),
                Column("parentcustomerid", "Customer", targets=("account", "contact")),
                Column("merged", "Boolean", create=False, update=False),
                Column("masterid", "Lookup", targets=("contact",), create=False, update=False),
                *_state_columns(ACTIVE_STATES),
            ],
            mergeable=True,
            status="active",
        ),
        _table(
            "opportunity",
            "opportunities",
            "opportunityid",
            "name",
            3,
            "Opportunity",
            [
                _s("name", 300, "ApplicationRequired"),
                Column("estimatedvalue", "Money", min_value=0, max_value=100_000_000_000_000),
                Column("estimatedclosedate", "DateOnly"),
                Column("actualvalue", "Money", min_value=0, max_value=100_000_000_000_000),
                Column("actualclosedate", "DateOnly"),
                Column("closeprobability", "Integer", min_value=0, max_value=100),
                Column("salesstage", "Picklist", options=SALES_STAGE),
                _s("stepname", 200),
                Column("description", "Memo", max_length=2000),
                Column("customerid", "Customer", targets=("account", "contact")),
                Column("parentaccountid", "Lookup", targets=("account",)),
                Column("parentcontactid", "Lookup", targets=("contact",)),
                *_state_columns(OPPORTUNITY_STATES),
            ],
            status="opportunity",
        ),
        _activity(
            "task",
            "tasks",
            4212,
            "Task",
            TASK_STATES,
            [Column("percentcomplete", "Integer", min_value=0, max_value=100)],
        ),
        _activity(
            "phonecall",
            "phonecalls",
            4210,
            "Phone Call",
            PHONECALL_STATES,
            [_s("phonenumber", 200), Column("directioncode", "Boolean")],
        ),
        _activity("appointment", "appointments", 4201, "Appointment", APPOINTMENT_STATES, [_s("location", 200)]),
        _table(
            "annotation",
            "annotations",
            "annotationid",
            "subject",
            5,
            "Note",
            [
                _s("subject", 500),
                Column("notetext", "Memo", max_length=100_000),
                Column(
                    "objectid",
                    "Lookup",
                    targets=("account", "contact", "opportunity", "task", "phonecall", "appointment"),
                ),
                Column("objecttypecode", "EntityName", create=False, update=False),
                Column("isdocument", "Boolean"),
                _s("filename", 255),
                _s("mimetype", 256),
                Column("documentbody", "Memo", max_length=1_073_741_823),
            ],
        ),
        _table(
            "systemuser",
            "systemusers",
            "systemuserid",
            "fullname",
            8,
            "User",
            [
                _s("fullname", 200, create=False, update=False),
                _s("domainname", 1024, "SystemRequired"),
                _s("internalemailaddress", 100),
                _s("applicationid", 100),
                Column("isdisabled", "Boolean"),
            ],
        ),
    ]
    return {t.logical_name: t for t in tables}


def add_custom_column(table: Table, custom: CustomColumn) -> Column:
    kind = custom.type
    column_type = "DateOnly" if kind == "DateOnly" else kind
    column = Column(
        custom.name,
        column_type,
        max_length=custom.max_length if kind in ("String", "Memo") else None,
        required="ApplicationRequired" if custom.required else "None",
        options=dict(custom.options),
        custom=True,
    )
    table.columns[column.name] = column
    if custom.alternate_key:
        add_key(table, (column.name,))
    table.finish()
    return column


def add_key(table: Table, columns: tuple[str, ...]) -> str:
    """Declare an alternate key; returns its schema name."""
    name = "".join(_schema_case(c) for c in columns) + "Key"
    if all(cols != columns for _, cols in table.keys):
        table.keys.append((name, columns))
    return name


def build_tables(config: DynamicsConfig) -> dict[str, Table]:
    tables = standard_tables()
    for logical, customs in config.custom_columns.items():
        if logical not in tables:
            raise ValueError(f"custom columns for unknown table {logical!r}")
        for custom in customs:
            add_custom_column(tables[logical], custom)
    for logical, keys in config.alternate_keys.items():
        if logical not in tables:
            raise ValueError(f"alternate key for unknown table {logical!r}")
        for key in keys:
            missing = [c for c in key if c not in tables[logical].columns]
            if missing:
                raise ValueError(f"alternate key on {logical} names unknown columns {missing}")
            add_key(tables[logical], tuple(key))
    for table in tables.values():
        table.finish()
    return tables
