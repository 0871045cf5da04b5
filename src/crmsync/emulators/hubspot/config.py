"""Settings of the HubSpot emulator: credentials, portal identity, token lifetime, rate limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class HubSpotConfig(BaseModel):
    """Every field has a default; any can be fixed with `CRMSYNC_HUBSPOT_<FIELD>` or an override."""

    model_config = ConfigDict(extra="forbid")

    private_app_token: str = Field(
        default="pat-na1-00000000-0000-4000-8000-000000000001",
        description="static private-app bearer token (never expires)",
    )
    client_id: str = "00000000-0000-4000-8000-0000000c1e17"
    client_secret: str = "00000000-0000-4000-8000-00000005ec2e"
    refresh_token: str = "na1-0000-0000-0000-0000-00000000refr"
    authorization_code: str = "emulator-auth-code"
    portal_id: int = 62515
    app_id: int = 54321
    user_id: int = 88842095
    hub_domain: str = "emulator.hubspot.test"
    access_token_lifetime_s: int = Field(default=1800, gt=0)
    ten_second_limit: int = Field(default=190, gt=0, description="requests per rolling 10 s (private app)")
    daily_limit: int = Field(default=1_000_000, gt=0, description="requests per day (resets at UTC midnight)")
    search_per_second: int = Field(default=5, gt=0, description="search requests per second")
    search_index_lag_ms: int = Field(
        default=0,
        ge=0,
        description="search is eventually consistent: a write reaches it up to this long after its stamp (0: at once)",
    )
    custom_properties: list[dict[str, Any]] = Field(
        default_factory=list,
        description="custom property definitions: {objectType, name, label, type, fieldType, options?, ...}",
    )
