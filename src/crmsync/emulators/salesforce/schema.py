"""Field and object definitions of the emulated sObjects (types, lengths, picklists, lookups, flags)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from crmsync.emulators.salesforce.config import CustomField

STRING_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "id", "reference"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
SYSTEM_FIELDS = (
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field as describe reports it; `computed` fields are derived by the emulator, never stored."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted: bool = False
    default_value: object = None
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    case_sensitive: bool = False
    calculated: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    polymorphic: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    computed: bool = False
    precision: int = 0
    scale: int = 0
    digits: int = 0

    @property
    def required(self) -> bool:
        return self.createable and not self.nillable and not self.defaulted

    @property
    def writable(self) -> bool:
        return self.createable or self.updateable


@dataclass(slots=True)
class ObjectDef:
    """An sObject type: its key prefix, fields in describe order, and its child relationships."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    mergeable: bool = False
    createable: bool = True
    children: list[tuple[str, str, str | None]] = field(default_factory=list)  # (child, field, relationship)
    lower: dict[str, FieldDef] = field(default_factory=dict)
    relationships: dict[str, FieldDef] = field(default_factory=dict)
    # Worked out once per schema, not per write: every create checks them.
    required_names: tuple[str, ...] = ()
    defaults: dict[str, object] = field(default_factory=dict)

    def index(self) -> None:
        self.lower = {name.lower(): fdef for name, fdef in self.fields.items()}
        self.required_names = tuple(fdef.name for fdef in self.fields.values() if fdef.required)
        self.defaults = {
            fdef.name: fdef.default_value
            for fdef in self.fields.values()
            if fdef.default_value is not None and not fdef.computed
        }
        self.relationships = {
            fdef.relationship_name.lower(): fdef for fdef in self.fields.values() if fdef.relationship_name
        }

    def field(self, name: str) -> FieldDef | None:
        return self.lower.get(name.lower())


def _label(name: str) -> str:
    out = []
    for i, ch in enumerate(name.removesuffix("__c").removesuffix("Id")):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append(" ")
        out.append(ch)
    return "".join(out) or name


def F(name: str, ftype: str, length: int = 0, *flags: str, **extra: object) -> FieldDef:
    """Compact field builder; flags: req, ro (read-only), cro (create-only), dflt, calc, idl, ext, uniq."""
    ro = "ro" in flags
    values: dict[str, object] = {
        "name": name,
        "type": ftype,
        "label": str(extra.pop("label", _label(name))),
        "length": length,
        "nillable": "req" not in flags and ftype != "boolean" and "notnull" not in flags,
        "createable": not ro,
        "updateable": not ro and "cro" not in flags,
        "defaulted": "dflt" in flags or ftype == "boolean",
        "calculated": "calc" in flags,
        "id_lookup": "idl" in flags,
        "external_id": "ext" in flags,
        "unique": "uniq" in flags,
        "computed": "comp" in flags,
    }
    if ftype == "boolean" and "default_value" not in extra:
        values["default_value"] = False
    values.update(extra)
    return FieldDef(**values)  # type: ignore[arg-type]


def ref(name: str, targets: tuple[str, ...], rel: str | None, *flags: str, **extra: object) -> FieldDef:
    return F(name, "reference", 18, *flags, reference_to=targets, relationship_name=rel, **extra)


def pick(name: str, values: tuple[str, ...], *flags: str, restricted: bool = False, **extra: object) -> FieldDef:
    return F(name, "picklist", 255, *flags, picklist=values, restricted=restricted, **extra)


def system_head(prefix_label: str, *, mergeable: bool, obj: str) -> list[FieldDef]:
    head = [
        F("Id", "id", 18, "ro", "idl", "notnull", label=f"{prefix_label} ID", defaulted=True),
        F("IsDeleted", "boolean", 0, "ro", "comp", label="Deleted"),
    ]
    if mergeable:
        head.append(ref("MasterRecordId", (obj,), "MasterRecord", "ro", "comp", label="Master Record ID"))
    return head


def system_tail() -> list[FieldDef]:
    return [
        F("CreatedDate", "datetime", 0, "ro", "comp", "notnull", defaulted=True),
        ref("CreatedById", ("User",), "CreatedBy", "ro", "comp", "notnull", defaulted=True),
        F("LastModifiedDate", "datetime", 0, "ro", "comp", "notnull", defaulted=True),
        ref("LastModifiedById", ("User",), "LastModifiedBy", "ro", "comp", "notnull", defaulted=True),
        F("SystemModstamp", "datetime", 0, "ro", "comp", "notnull", defaulted=True),
    ]


def address_fields(prefix: str) -> list[FieldDef]:
    """The parts of a compound address plus the read-only compound itself."""
    return [
        F(f"{prefix}Street", "textarea", 255),
        F(f"{prefix}City", "string", 40),
        F(f"{prefix}State", "string", 80),
        F(f"{prefix}PostalCode", "string", 20),
        F(f"{prefix}Country", "string", 80),
        F(f"{prefix}StateCode", "picklist", 10),
        F(f"{prefix}CountryCode", "picklist", 10),
        F(f"{prefix}Latitude", "double", 0, precision=18, scale=15),
        F(f"{prefix}Longitude", "double", 0, precision=18, scale=15),
        pick(f"{prefix}GeocodeAccuracy", ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip")),
        F(f"{prefix}Address", "address", 0, "ro", "comp"),
    ]


def custom_field_def(spec: CustomField) -> FieldDef:
    """Translate a configured custom field into its describe-level definition."""
    number = spec.type in NUMBER_TYPES
    text = spec.type in {"string", "textarea", "email", "phone", "url"}
    return FieldDef(
        name=spec.name,
        type=spec.type,
        label=spec.label or _label(spec.name),
        length=spec.length if text else (255 if spec.type in {"picklist", "multipicklist"} else 0),
        nillable=not spec.required and spec.type != "boolean",
        defaulted=spec.type == "boolean",
        default_value=False if spec.type == "boolean" else None,
        external_id=spec.external_id,
        id_lookup=spec.external_id or spec.unique,
        unique=spec.unique,
        case_sensitive=spec.case_sensitive,
        custom=True,
        picklist=tuple(spec.picklist_values),
        restricted=spec.restricted and bool(spec.picklist_values),
        precision=18 if number else 0,
        scale=2 if spec.type in {"double", "currency", "percent"} else 0,
        digits=9 if spec.type == "int" else 0,
    )


def with_custom_fields(obj: ObjectDef, specs: list[CustomField]) -> ObjectDef:
    fields = dict(obj.fields)
    for spec in specs:
        fields[spec.name] = custom_field_def(spec)
    clone = replace(obj, fields=fields, children=list(obj.children))
    clone.index()
    return clone
