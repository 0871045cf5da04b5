"""Configuration of the Salesforce emulator: credentials, session lifetime, limits and custom fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CustomFieldType = Literal[
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
]


class CustomField(BaseModel):
    """One `X__c` field added to a standard object, as an admin would in Setup."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: CustomFieldType = "string"
    label: str | None = None
    length: int = Field(default=255, ge=1, le=131_072)
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    required: bool = False
    picklist_values: list[str] = Field(default_factory=list)
    restricted: bool = True

    @field_validator("name")
    @classmethod
    def _custom_suffix(cls, value: str) -> str:
        stem = value[:-3]
        if not value.endswith("__c") or not stem or not stem.replace("_", "").isalnum() or not stem[0].isalpha():
            raise ValueError("custom field names look like Foo__c (letters, digits, underscores)")
        return value


class SalesforceConfig(BaseModel):
    """Everything has a default, so `create_app()` runs a usable org."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = "crmsync-emulator-client"
    client_secret: str = "crmsync-emulator-secret"
    consumer_key: str = "crmsync-emulator-consumer-key"
    username: str = "integration@crmsync.example"
    jwt_public_key_pem: str | None = None
    jwt_audiences: list[str] = Field(
        default_factory=lambda: ["https://login.salesforce.com", "https://test.salesforce.com"]
    )
    static_session_token: str | None = "00Dcrmsync!emulator-static-session"
    session_timeout_s: int = Field(default=7200, ge=1)
    daily_api_limit: int = Field(default=100_000, ge=1)
    min_api_version: float = 20.0
    max_api_version: float = 67.0
    org_id: str = "00DdM00000crmsyUAA"
    custom_fields: dict[str, list[CustomField]] = Field(default_factory=dict)
    query_locator_ttl_s: int = 900
