"""Settings of one Dataverse connection, and the tables the connector knows (entity sets, keys, link roles)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

MAX_PAGE_SIZE = 5000  # Prefer: odata.maxpagesize maximum
MAX_BATCH_REQUESTS = 1000  # requests per $batch
ODATA_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What the connector needs to know about one standard table without asking the metadata API."""

    logical_name: str
    entity_set: str
    primary_id: str
    mergeable: bool = False  # account/contact: merged subordinates carry merged=true + masterid
    activity: bool = False


TABLES: dict[str, TableInfo] = {
    t.logical_name: t
    for t in (
        TableInfo("account", "accounts", "accountid", mergeable=True),
        TableInfo("contact", "contacts", "contactid", mergeable=True),
        TableInfo("opportunity", "opportunities", "opportunityid"),
        TableInfo("task", "tasks", "activityid", activity=True),
        TableInfo("phonecall", "phonecalls", "activityid", activity=True),
        TableInfo("appointment", "appointments", "activityid", activity=True),
        TableInfo("annotation", "annotations", "annotationid"),
    )
}
"""The objects this connector supports, by Dataverse logical name."""


class DynamicsSettings(BaseModel):
    """One Dataverse environment reached with Entra ID client credentials (an application user).

    Limits default to Dataverse's service protection (6,000 requests per user per 5-minute sliding
    window, 52 concurrent) with a concurrency cap well below the vendor's. Dataverse does not enforce a
    daily quota with 429s; `daily_limit` (the licence's Power Platform request entitlement) is only
    honoured when set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    org_url: str = Field(description="environment URL, e.g. https://contoso.crm.dynamics.com")
    tenant_id: str
    client_id: str
    client_secret: SecretStr
    authority: str = "https://login.microsoftonline.com"
    api_path: str = "/api/data/v9.2"

    requests_per_window: int = Field(default=6000, ge=1, description="service protection: requests per window")
    window_s: float = Field(default=300.0, gt=0)
    concurrency: int = Field(default=16, ge=1, le=52, description="requests in flight (the vendor allows 52)")
    daily_limit: int | None = Field(default=None, ge=1, description="daily request entitlement, if enforced")
    reserve_share: float = Field(default=0.1, ge=0, lt=1, description="share of the daily quota left to others")

    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    batch_size: int = Field(default=MAX_BATCH_REQUESTS, ge=1, le=MAX_BATCH_REQUESTS)
    fetch_chunk: int = Field(default=500, ge=1, le=1000, description="ids per In(...) filter in fetch()")
    batch_concurrency: int = Field(default=4, ge=1, description="$batch requests in flight during apply()")
    part_retries: int = Field(default=3, ge=0, description="resends of idempotent parts that failed retryably")

    external_ids: dict[str, str] = Field(
        default_factory=dict,
        description="table logical name -> alternate-key column holding crmsync's canonical id (new_crmsyncid)",
    )
    merged_ids: bool = Field(
        default=True,
        description="fill RemoteRecord.merged_ids of account/contact survivors (one extra query per fetch chunk "
        "and per change page that holds merges)",
    )
    lookback_s: float = Field(default=300.0, ge=0, description="polling fallback re-reads this far back")
    token_margin_s: float = Field(default=300.0, ge=0, description="refresh the token this long before expiry")
    webhook_key: SecretStr | None = Field(
        default=None, description="the service endpoint's key (WebhookKey `?code=`, or HttpHeader `x-crmsync-key`)"
    )

    @field_validator("org_url", "authority")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("api_path")
    @classmethod
    def _leading_slash(cls, value: str) -> str:
        return "/" + value.strip("/")

    @property
    def api_root(self) -> str:
        return f"{self.org_url}{self.api_path}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"
