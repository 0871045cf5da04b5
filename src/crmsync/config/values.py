"""The loaded configuration as typed values the engine consumes: connections, objects, rules, filters, deletes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from crmsync.config.schema import ServiceSection
from crmsync.connectors.dynamics.settings import DynamicsSettings
from crmsync.connectors.hubspot.settings import HubSpotSettings
from crmsync.connectors.salesforce.settings import SalesforceSettings
from crmsync.mapping import Mappings
from crmsync.model.rules import SyncRules
from crmsync.model.values import OBJECT_KINDS, CanonicalValue, ObjectKind

Vendor = Literal["salesforce", "hubspot", "dynamics"]
VENDORS: tuple[Vendor, ...] = ("salesforce", "hubspot", "dynamics")
ConnectorSettings = SalesforceSettings | HubSpotSettings | DynamicsSettings
DeleteKind = Literal["propagate", "ignore", "archive"]
DeleteOnEdit = Literal["park", "delete_wins", "edit_wins"]
ConditionOp = Literal["equals", "not_equals", "in", "not_in", "present", "blank"]

LINK_ROLES: tuple[str, ...] = ("company", "contact", "deal")
"""Parents a match key may name besides canonical fields: the record's links of that role."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One configured CRM: its name in crmsync, its vendor, and the connector's settings (secrets as SecretStr)."""

    name: str
    vendor: Vendor
    settings: ConnectorSettings


@dataclass(frozen=True, slots=True)
class MassDeleteBreaker:
    """Deletes stop propagating when one run would delete more than `share` of a connection's records and `min`."""

    share: float = 0.05
    min: int = 100

    def trips(self, deletes: int, total: int) -> bool:
        # Both thresholds must be crossed: 3 deletes out of 10 records is normal churn, not a mass delete.
        return deletes >= self.min and deletes > self.share * total

    def describe(self) -> str:
        """The thresholds in words, the share as set (0.001 is 0.1%, not the 0% a rounded percent shows)."""
        return f"more than {self.share * 100:.4g}% of them and at least {self.min}"


@dataclass(frozen=True, slots=True)
class DeletePolicy:
    """What a delete in one connection does to the others: delete there too, nothing, or set an archive field."""

    kind: DeleteKind = "propagate"
    on_edit: DeleteOnEdit = "park"
    archive_field: str | None = None
    archive_value: CanonicalValue = True
    mass_delete: MassDeleteBreaker = field(default_factory=MassDeleteBreaker)


@dataclass(frozen=True, slots=True)
class Condition:
    """One test of a canonical field's value; blank (None or "") is never equal to anything."""

    field: str
    op: ConditionOp
    values: tuple[CanonicalValue, ...] = ()

    def matches(self, fields: Mapping[str, CanonicalValue]) -> bool:
        value = fields.get(self.field)
        blank = value is None or value == "" or value == ()
        if self.op == "present":
            return not blank
        if self.op == "blank":
            return blank
        hit = not blank and any(_same(value, wanted) for wanted in self.values)
        return hit if self.op in ("equals", "in") else not hit


def _same(value: CanonicalValue, wanted: CanonicalValue) -> bool:
    # A multi-select holds the wanted option when the option is among its values.
    if isinstance(value, tuple) and not isinstance(wanted, tuple):
        return wanted in value
    return value == wanted


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Sync only records whose canonical values pass every condition (an empty filter passes everything)."""

    conditions: tuple[Condition, ...] = ()

    def matches(self, fields: Mapping[str, CanonicalValue]) -> bool:
        return all(condition.matches(fields) for condition in self.conditions)


@dataclass(frozen=True, slots=True)
class ObjectSettings:
    """How one canonical kind syncs: with which connections, by which rules, matched how, filtered, deleted how.

    `match` is a list of alternative keys tried in order; each key is one or more canonical fields (or
    link roles such as `company`) that must all be equal: contacts `((email,),)`, companies
    `((domain,), (name,))`.
    """

    kind: ObjectKind
    connections: tuple[str, ...]
    rules: SyncRules
    match: tuple[tuple[str, ...], ...]
    filter: RecordFilter = field(default_factory=RecordFilter)
    delete: DeletePolicy = field(default_factory=DeletePolicy)
    look_before_create: bool = False
    """Before creating records in a CRM outside a first full read of it, look them up there by email (`look_first`)."""


def redis_password(url: str) -> str | None:
    """The password a Redis URL carries, in its user part or (redis-py's form for sockets) `?password=`."""
    parts = urlsplit(url)
    if parts.password is not None:
        return unquote(parts.password)
    query = parse_qs(parts.query).get("password")
    return query[0] if query else None


def redis_url_safe(url: str) -> str:
    """`url` with its password (if any) replaced by ***: the form a Redis URL takes in logs, pages and errors."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*"
    )
    # Not urlunsplit: it drops the `//` of `unix:///path` (an empty host).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """A validated crmsync.yaml. Objects come in dependency order (company, contact, deal, activity)."""

    file: str
    state_url: str = field(repr=False)  # a PostgreSQL URL may carry a password (read from env or file)
    connections: Mapping[str, Connection]
    objects: Mapping[ObjectKind, ObjectSettings]
    mappings: Mappings = field(repr=False)
    service: ServiceSection = field(default_factory=ServiceSection)
    redis_url: SecretStr | None = field(default=None, repr=False)  # shared rate limits; may carry a password

    @property
    def state_url_safe(self) -> str:
        """The state URL with any password masked, for logs and `status`."""
        return make_url(self.state_url).render_as_string(hide_password=True)

    @property
    def redis_url_safe(self) -> str | None:
        """The Redis URL with any password masked, for logs and errors (None when not configured)."""
        return None if self.redis_url is None else redis_url_safe(self.redis_url.get_secret_value())

    def connection(self, name: str) -> Connection:
        try:
            return self.connections[name]
        except KeyError:
            raise KeyError(f"no connection {name!r}; configured: {', '.join(self.connections)}") from None

    def object(self, kind: ObjectKind) -> ObjectSettings:
        try:
            return self.objects[kind]
        except KeyError:
            raise KeyError(f"{kind} is not synced; configured objects: {', '.join(self.objects)}") from None

    def rules_for(self, kind: ObjectKind) -> SyncRules:
        """The reconcile rules of one kind: its connections, policies, directions and mapped fields."""
        return self.object(kind).rules

    @property
    def kinds(self) -> tuple[ObjectKind, ...]:
        return tuple(kind for kind in OBJECT_KINDS if kind in self.objects)
