"""Settings of the Dataverse emulator: credentials, org identity, limits, custom columns and alternate keys."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ColumnType = Literal["String", "Memo", "Integer", "Decimal", "Money", "Boolean", "DateTime", "DateOnly", "Picklist"]


class CustomColumn(BaseModel):
    """A custom column added to a standard table (logical name carries the publisher prefix)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="logical name, e.g. new_crmsyncid")
    type: ColumnType = "String"
    max_length: int = Field(default=100, ge=1, le=1_048_576)
    required: bool = False
    alternate_key: bool = Field(default=False, description="declare a single-column alternate key on it")
    options: dict[int, str] = Field(default_factory=dict, description="Picklist values and labels")

    @field_validator("name")
    @classmethod
    def _prefixed(cls, value: str) -> str:
        if not value.islower() or "_" not in value or not value.replace("_", "").isalnum():
            raise ValueError("a custom column's logical name is lowercase with a publisher prefix (new_foo)")
        return value


class DynamicsConfig(BaseModel):
    """Everything has a default so `create_app()` works out of the box."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str = "7d3c2b1a-5e4f-4a8b-9c0d-1e2f3a4b5c6d"
    client_id: str = "5f1e0d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
    client_secret: str = "crmsync-dataverse-secret"
    token_lifetime_s: int = Field(default=3599, ge=1)
    org_name: str = "crmsync"
    organization_id: str = "2b9e6c1d-0f4a-4e3b-a1c2-d3e4f5a6b7c8"
    business_unit_id: str = "9a8b7c6d-5e4f-4321-8765-43210fedcba9"
    application_user_id: str = "c0ffee00-1234-4abc-8def-0123456789ab"
    application_user_name: str = "# crmsync-app"
    requests_per_window: int = Field(default=6000, ge=1)
    window_s: int = Field(default=300, ge=1)
    concurrent_requests: int = Field(default=52, ge=1)
    change_tracking_days: int = Field(default=7, ge=1)
    max_page_size: int = Field(default=5000, ge=1)
    enforce_application_required: bool = Field(
        default=True, description="reject creates missing name/lastname (ApplicationRequired columns)"
    )
    custom_columns: dict[str, list[CustomColumn]] = Field(
        default_factory=dict, description="table logical name -> extra columns"
    )
    key_index_s: float = Field(
        default=2.0,
        ge=0,
        description="how long an alternate key created through the Web API stays Pending before it is Active "
        "(Dataverse builds its index in a system job), on the emulator's clock",
    )
    alternate_keys: dict[str, list[list[str]]] = Field(
        default_factory=lambda: {"account": [["accountnumber"]]},
        description="table logical name -> alternate keys (each a list of columns)",
    )
