"""HubSpot connection settings: credentials, base URL, tier-sized limits, page/batch sizes, external ids."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Tier = Literal["free", "starter", "professional", "enterprise", "api-pack"]

# Documented private-app limits per tier: (requests per rolling 10 s, requests per day).
# "api-pack" is Enterprise with one API Limit Increase pack (+1,000,000 a day, 250 per 10 s).
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 650_000),
    "enterprise": (190, 1_000_000),
    "api-pack": (250, 2_000_000),
}

OBJECTS = ("contacts", "companies", "deals", "tasks", "notes", "calls", "meetings")


class HubSpotSettings(BaseModel):
    """Everything a HubSpot connection needs. Secrets are `SecretStr`: they never print or log.

    Auth: either `access_token` (a private-app token, never expires) or OAuth (`client_id`,
    `client_secret`, `refresh_token`; access tokens live 1,800 s and are refreshed before expiry).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr | None = Field(default=None, description="private-app token (pat-...)")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_path: str = "/oauth/v1/token"

    tier: Tier = "professional"
    ten_second_limit: int | None = Field(default=None, gt=0, description="override the tier's burst limit")
    daily_limit: int | None = Field(default=None, gt=0, description="override the tier's daily limit")
    search_per_second: int = Field(default=5, gt=0, description="the search API's own limit")
    concurrency: int = Field(default=8, gt=0, description="requests in flight per connection")
    reserve_share: float = Field(default=0.1, ge=0, lt=1, description="share of the daily quota left for others")

    page_size: int = Field(default=100, ge=1, le=100, description="list endpoint page size (max 100)")
    search_page_size: int = Field(default=200, ge=1, le=200, description="search page size (max 200)")
    search_result_cap: int = Field(default=10_000, ge=2, description="results one search can page through")
    batch_size: int = Field(default=100, ge=1, le=100, description="batch read/create/update/upsert/archive")
    association_batch_size: int = Field(default=1000, ge=1, le=1000, description="v4 association batch inputs")

    external_id_properties: dict[str, str] = Field(
        default_factory=lambda: dict.fromkeys(OBJECTS, "crmsync_id"),
        description="per object: the unique custom property holding the canonical id (upsert idProperty)",
    )
    lookback_s: float = Field(default=5.0, ge=0, description="re-read this far behind the cursor (search lag)")
    read_links: bool = Field(default=True, description="read associations into RemoteRecord.links")
    scan_links: tuple[str, ...] = Field(
        default=("contacts", "deals"),
        description="objects whose associations an incremental read also reads for every synced record (one call "
        "per association_batch_size records and role): HubSpot leaves lastmodifieddate alone when only they "
        "change. Engagements are many and seldom move, so they are left to full syncs and the association "
        "webhook unless listed; [] turns the scan off",
    )
    read_deletes: bool = Field(default=True, description="list archived records for tombstones on incremental reads")
    webhook_secret: SecretStr | None = Field(
        default=None, description="the app's client secret webhooks are signed with (default: client_secret)"
    )

    @field_validator("scan_links")
    @classmethod
    def _scannable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in OBJECTS or name == "companies"]
        if unknown:
            known = ", ".join(name for name in OBJECTS if name != "companies")
            raise ValueError(f"cannot scan the links of {', '.join(unknown)}; objects with links: {known}")
        return value

    @model_validator(mode="after")
    def _one_auth_method(self) -> HubSpotSettings:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if self.access_token is None and not all(v is not None for v in oauth):
            raise ValueError("configure access_token, or client_id + client_secret + refresh_token for OAuth")
        return self

    @property
    def burst_limit(self) -> int:
        return self.ten_second_limit or TIER_LIMITS[self.tier][0]

    @property
    def daily_quota(self) -> int:
        return self.daily_limit or TIER_LIMITS[self.tier][1]

    def external_id_property(self, object: str) -> str | None:
        return self.external_id_properties.get(object)
