"""Settings of one Salesforce connection: credentials, URLs, edition-sized limits, batch sizes, cursors."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

AuthFlow = Literal["jwt_bearer", "client_credentials", "session"]
Edition = Literal["developer", "professional", "enterprise", "unlimited", "performance"]

# Daily API allocation per edition: (base, added per Salesforce licence); Salesforce's limits cheat sheet.
EDITION_DAILY_LIMITS: dict[str, tuple[int, int]] = {
    "developer": (15_000, 0),
    "professional": (100_000, 1_000),
    "enterprise": (100_000, 1_000),
    "unlimited": (100_000, 5_000),
    "performance": (100_000, 5_000),
}
# Concurrent long-running requests: 25 in production and sandboxes, 5 in Developer Edition and trials.
EDITION_CONCURRENCY: dict[str, int] = {"developer": 5}
DEFAULT_CONCURRENCY = 25

MAX_QUERY_BATCH = 2000  # `Sforce-Query-Options: batchSize` hint range 200..2,000
MAX_COLLECTION_BATCH = 200  # sObject Collections create/update/upsert/delete
MAX_RETRIEVE_BATCH = 2000  # sObject Collections retrieve


class SalesforceSettings(BaseModel):
    """Everything a Salesforce connection needs. Secrets are `SecretStr`: never logged, never in a repr.

    Auth flows:
    - `jwt_bearer`: `client_id` (the connected app's consumer key), `username`, `private_key_pem`; the assertion's
      audience is `jwt_audience` (default `login_url`).
    - `client_credentials`: `client_id`, `client_secret`; Salesforce wants the My Domain token URL here.
    - `session`: a ready session id in `session_id` plus `instance_url` (tests, or a token minted elsewhere).
    The token response's `instance_url` becomes the API base for the other two flows.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_flow: AuthFlow = "jwt_bearer"
    login_url: str = "https://login.salesforce.com"
    token_url: str | None = Field(default=None, description="default: <login_url>/services/oauth2/token")
    client_id: str = Field(default="", description="connected app consumer key")
    client_secret: SecretStr | None = None
    username: str | None = None
    private_key_pem: SecretStr | None = None
    jwt_audience: str | None = Field(default=None, description="default: login_url")
    jwt_lifetime_s: int = Field(default=180, ge=30, le=3600)
    session_id: SecretStr | None = None
    instance_url: str | None = Field(default=None, description="API base for the `session` flow")
    api_version: str = Field(default="v60.0", pattern=r"^v[0-9]{2}\.[0-9]$")

    edition: Edition = "enterprise"
    licences: int = Field(default=0, ge=0, description="Salesforce user licences (adds to the daily allocation)")
    daily_api_limit: int | None = Field(default=None, ge=1, description="override of the edition-sized allocation")
    reserve_share: float = Field(default=0.1, ge=0, lt=1, description="share of the daily allocation left to others")
    concurrency: int | None = Field(default=None, ge=1, description="requests in flight; default from the edition")
    requests_per_second: float | None = Field(default=None, gt=0, description="optional client-side pacing")

    query_batch_size: int = Field(default=MAX_QUERY_BATCH, ge=200, le=MAX_QUERY_BATCH)
    write_batch_size: int = Field(default=MAX_COLLECTION_BATCH, ge=1, le=MAX_COLLECTION_BATCH)
    retrieve_batch_size: int = Field(default=MAX_RETRIEVE_BATCH, ge=1, le=MAX_RETRIEVE_BATCH)
    item_retries: int = Field(default=2, ge=0, le=10, description="re-sends of items that failed retryably")

    external_id_fields: dict[str, str] = Field(
        default_factory=dict, description="object -> external-id field carrying the canonical id (e.g. Crmsync_Id__c)"
    )
    lookback_s: float = Field(default=0.0, ge=0, description="re-read this far behind the cursor stamp")
    merges: bool = Field(
        default=True,
        description="merge the counterpart of a merge made in another CRM with Salesforce's own merge() (SOAP API; "
        "the user needs Delete on accounts and contacts); false: the delete policy decides, as for a delete",
    )
    org_id: str | None = Field(default=None, description="the org's id (outbound-message verification)")
    webhook_token: SecretStr | None = Field(
        default=None, description="a token the outbound message's endpoint URL carries as ?token= (recommended)"
    )

    @field_validator("login_url", "token_url", "instance_url", "jwt_audience")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _credentials_for_flow(self) -> SalesforceSettings:
        missing: list[str] = []
        if self.auth_flow == "jwt_bearer":
            missing = [n for n in ("client_id", "username", "private_key_pem") if not getattr(self, n)]
        elif self.auth_flow == "client_credentials":
            missing = [n for n in ("client_id", "client_secret") if not getattr(self, n)]
        elif self.auth_flow == "session":
            missing = [n for n in ("session_id", "instance_url") if not getattr(self, n)]
        if missing:
            raise ValueError(f"auth_flow {self.auth_flow!r} needs {', '.join(missing)}")
        return self

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or f"{self.login_url}/services/oauth2/token"

    @property
    def resolved_daily_limit(self) -> int:
        if self.daily_api_limit is not None:
            return self.daily_api_limit
        base, per_licence = EDITION_DAILY_LIMITS[self.edition]
        return base + per_licence * self.licences

    @property
    def resolved_concurrency(self) -> int:
        return self.concurrency or EDITION_CONCURRENCY.get(self.edition, DEFAULT_CONCURRENCY)
