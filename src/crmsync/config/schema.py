"""What a user may write in crmsync.yaml's `state:`, `service:` and `objects:` sections, as pydantic models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

PlainValue = str | bool | int | float | date | datetime
PolicyName = Literal["last_writer_wins", "prefer", "manual"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateSection(_Section):
    """Where crmsync keeps its state; a relative SQLite path is relative to the config file."""

    url: Any = "sqlite:///crmsync.db"  # a string, or `{env: …}` / `{file: …}` for a URL with a password
    # Workers share their rate limits through this Redis instead of the database (also on SQLite); may hold a password.
    redis_url: Any = None


def _http_url(url: SecretStr) -> SecretStr:
    # The message never repeats the URL: its path or query may be the webhook's secret.
    try:
        parts = urlsplit(url.get_secret_value())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise ValueError("expected an http(s) URL such as https://hooks.slack.com/services/…")
    return url


AlertUrl = Annotated[SecretStr, AfterValidator(_http_url)]


class AlertsSection(_Section):
    """Where `crmsync serve` POSTs alerts (Slack-compatible JSON) and when (the `service.alerts:` section).

    The loader reads `{env: …}` / `{file: …}` URLs before validation: a webhook URL often carries its token.
    """

    urls: tuple[AlertUrl, ...] = Field(default=(), description="webhook URLs; none: no alerts are sent")
    sync_errors: int = Field(default=10, ge=1, description="alert when one pass records at least this many")
    queue_age_s: float = Field(default=900.0, gt=0, description="alert when the oldest pending job is older")
    quota_share: float = Field(default=0.8, gt=0, le=1, description="alert when this share of a daily quota is used")
    repeat_s: float = Field(default=3600.0, ge=0, description="the same alert is sent at most once in this time")


DashboardRole = Literal["viewer", "operator"]
DASHBOARD_NAME = r"^[A-Za-z0-9_.@-]{1,64}$"
PASSWORD_HASH_SCHEMES = ("scrypt", "pbkdf2_sha256")


def _password_hash(value: SecretStr) -> SecretStr:
    # Only the scheme is checked here (the dashboard verifies the rest); the hash itself is never echoed.
    scheme = value.get_secret_value().partition("$")[0]
    if scheme not in PASSWORD_HASH_SCHEMES:
        raise ValueError("expected a hash written by `crmsync dashboard hash-password` (scrypt$… or pbkdf2_sha256$…)")
    return value


def _token(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 16:
        raise ValueError("a dashboard token needs at least 16 characters (`crmsync init` writes a random one)")
    return value


class DashboardToken(_Section):
    """An API token of the dashboard: `{name, role, token: {env|file}}`; the name is what logs and pages show."""

    name: str = Field(pattern=DASHBOARD_NAME)
    role: DashboardRole = "viewer"
    token: Annotated[SecretStr, AfterValidator(_token)]


class DashboardUser(_Section):
    """A person who signs in with a password: `{username, role, password_hash: {env|file}}`."""

    username: str = Field(pattern=DASHBOARD_NAME)
    role: DashboardRole = "viewer"
    password_hash: Annotated[SecretStr, AfterValidator(_password_hash)]


class DashboardSection(_Section):
    """Who may open the dashboard at `/` and its API at `/api` (the `service.dashboard:` section).

    Nothing configured means nobody: the dashboard then only explains how to configure it.
    """

    tokens: tuple[DashboardToken, ...] = ()
    users: tuple[DashboardUser, ...] = ()
    session_secret: SecretStr | None = Field(
        default=None, description="signs login cookies; default: random per process (sign-ins end at a restart)"
    )
    session_max_age_s: float = Field(default=12 * 3600.0, gt=0, description="a sign-in lasts this long")
    record_urls: dict[str, str] = Field(
        default_factory=dict,
        description="per connection, a URL template for a record's page: {object}, {object_type_id}, {id}",
    )

    @model_validator(mode="after")
    def _unique(self) -> DashboardSection:
        for what, names in (
            ("token name", [t.name for t in self.tokens]),
            ("username", [u.username for u in self.users]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"each {what} must be unique; repeated: {', '.join(repeated)}")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.tokens or self.users)


class ServiceSection(_Section):
    """How `crmsync serve` listens, how often it polls, and what it accepts (the `service:` section)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0: any free port")
    public_url: str | None = Field(
        default=None, description="the base URL the CRMs call when a proxy sits in front (HubSpot signs it)"
    )
    poll_interval_s: float = Field(default=60.0, gt=0, description="incremental polls, the net under webhooks")
    sweep_interval_s: float = Field(
        default=86_400.0, ge=0, description="full reconciliation sweeps (a `sync --full`); 0: never"
    )
    link_scan_interval_s: float = Field(
        default=3_600.0,
        ge=0,
        description="how often a poll also reads the links of every synced record where the CRM's modification "
        "stamps miss link changes (HubSpot's associations), the net under a missed association webhook; 0: never",
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger webhook bodies get 413")
    register_emulator_webhooks: bool = Field(
        default=False, description="subscribe the local emulators' webhooks to this service when it starts"
    )
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)


class PolicySpec(_Section):
    """`last_writer_wins`, `manual`, or `{prefer: [connections], unless_blank: true}`."""

    kind: PolicyName | None = None
    prefer: list[str] | None = Field(default=None, min_length=1)
    unless_blank: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data == "prefer":
                raise ValueError("`prefer` lists connections: write `{prefer: [salesforce, hubspot]}`")
            if data not in ("last_writer_wins", "manual"):
                raise ValueError(f"expected last_writer_wins, manual or {{prefer: [...]}} (got {data!r})")
            return {"kind": data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> PolicySpec:
        if self.prefer is not None and self.kind not in (None, "prefer"):
            raise ValueError(f"`prefer:` lists connections for the prefer policy, not for {self.kind}")
        if self.kind == "prefer" and self.prefer is None:
            raise ValueError("the prefer policy needs `prefer: [connections]`")
        return self

    @property
    def resolved_kind(self) -> PolicyName:
        if self.prefer is not None:
            return "prefer"
        return self.kind or "last_writer_wins"


class DirectionSpec(_Section):
    """`both`, `none`, `{to: [connections]}` (mirrors) or `{from: [connections]}` (the only sources)."""

    kind: Literal["both", "none"] | None = None
    to: list[str] | None = Field(default=None, min_length=1)
    from_: list[str] | None = Field(default=None, min_length=1, alias="from")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data in ("to", "from"):
                raise ValueError(f"`{data}` lists connections: write `{{{data}: [salesforce]}}`")
            if data not in ("both", "none"):
                raise ValueError(f"expected both, none, {{to: [...]}} or {{from: [...]}} (got {data!r})")
            return {"kind": data}
        return data

    @model_validator(mode="after")
    def _one(self) -> DirectionSpec:
        given = [v for v in (self.kind, self.to, self.from_) if v is not None]
        if len(given) != 1:
            raise ValueError("expected exactly one of both, none, {to: [...]} or {from: [...]}")
        return self


class FieldSection(_Section):
    """Per-field overrides of the object's policy, and the field's direction."""

    policy: PolicySpec | None = None
    direction: DirectionSpec | None = None


class ConditionSpec(_Section):
    """`value` (equals), `[values]` (in), or one of equals, not_equals, in, not_in, present."""

    equals: PlainValue | None = None
    not_equals: PlainValue | None = None
    in_: list[PlainValue] | None = Field(default=None, alias="in", min_length=1)
    not_in: list[PlainValue] | None = Field(default=None, min_length=1)
    present: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"in": data}
        if not isinstance(data, dict):
            return {"equals": data}
        return data

    @model_validator(mode="after")
    def _one(self) -> ConditionSpec:
        given = [
            name for name in ("equals", "not_equals", "in_", "not_in", "present") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("expected exactly one of equals, not_equals, in, not_in, present")
        return self


class MassDeleteSpec(_Section):
    share: float = Field(default=0.05, gt=0, le=1, description="share of a connection's records")
    min: int = Field(default=100, ge=1, description="deletes below this count never trip the breaker")


class DeleteSpec(_Section):
    """`propagate` (delete everywhere), `ignore`, or `archive` (set `archive_field` to `archive_value`)."""

    policy: Literal["propagate", "ignore", "archive"] = "propagate"
    on_edit: Literal["park", "delete_wins", "edit_wins"] = Field(
        default="park", description="a record deleted in one CRM but edited in another since the last sync"
    )
    archive_field: str | None = None
    archive_value: PlainValue = True
    mass_delete: MassDeleteSpec = Field(default_factory=MassDeleteSpec)

    @model_validator(mode="after")
    def _archive_needs_field(self) -> DeleteSpec:
        if self.policy == "archive" and not self.archive_field:
            raise ValueError("the archive policy needs `archive_field: <canonical field>` to set on the others")
        if self.policy != "archive" and self.archive_field:
            raise ValueError(f"`archive_field` is only used by the archive policy, not {self.policy}")
        return self


class ObjectSection(_Section):
    """How one canonical kind syncs. Everything has a default: `contact: {}` syncs contacts everywhere."""

    connections: list[str] | None = Field(default=None, min_length=1, description="default: every connection")
    policy: PolicySpec = Field(default_factory=PolicySpec)
    fields: dict[str, FieldSection] = Field(default_factory=dict)
    match: list[str | list[str]] | None = Field(default=None, min_length=1)
    filter: dict[str, ConditionSpec] = Field(default_factory=dict)
    delete: DeleteSpec = Field(default_factory=DeleteSpec)
    look_before_create: bool | None = Field(
        default=None,
        description="look the person up by email in a CRM before creating them there (default: when matched by email)",
    )


TOP_LEVEL_KEYS = ("state", "service", "connections", "objects", "mappings")

_SHAPES: dict[tuple[str, ...], type[BaseModel]] = {
    (): ObjectSection,
    ("policy",): PolicySpec,
    ("fields", "*"): FieldSection,
    ("fields", "*", "policy"): PolicySpec,
    ("fields", "*", "direction"): DirectionSpec,
    ("filter", "*"): ConditionSpec,
    ("delete",): DeleteSpec,
    ("delete", "mass_delete"): MassDeleteSpec,
}


def object_keys(loc: tuple[str, ...]) -> tuple[str, ...]:
    """The keys allowed in the mapping at `loc` inside an object section (for "unknown key" messages)."""
    shape = tuple("*" if i == 1 and loc[0] in ("fields", "filter") else part for i, part in enumerate(loc))
    model = _SHAPES.get(shape)
    if model is None:
        return ()
    # Directions take `both`/`none` as plain strings; `kind:` is only how the shorthand is stored.
    return tuple(
        info.alias or name
        for name, info in model.model_fields.items()
        if not (model is DirectionSpec and name == "kind")
    )
