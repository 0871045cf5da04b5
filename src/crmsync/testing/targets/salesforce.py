"""The Salesforce conformance target: the Salesforce connector against the Salesforce emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp

from crmsync.connectors.base import Connector
from crmsync.emulators.salesforce import CustomField, SalesforceConfig, create_app
from crmsync.testing.conformance import ConnectorOptions, MergeOutcome, Role, expect
from crmsync.testing.rig import Rig

EXTERNAL_ID = "Crmsync_Id__c"
API = "/services/data/v60.0"
OBJECTS: dict[Role, str] = {"company": "Account", "contact": "Contact", "deal": "Opportunity", "activity": "Task"}


class SalesforceTarget:
    vendor = "salesforce"
    objects: Mapping[Role, str] = OBJECTS
    link_roles: Mapping[Role, tuple[str, ...]] = {
        "company": (),
        "contact": ("company",),
        "deal": ("company", "contact"),
        "activity": ("contact", "deal"),  # WhoId + WhatId (one WhatId: the deal)
    }
    mergeable: tuple[Role, ...] = ("company", "contact")
    small_page = 200  # Sforce-Query-Options batchSize minimum
    limit_statuses = frozenset({403})  # REQUEST_LIMIT_EXCEEDED
    rate_limit_retry_after = False
    api_path = r"^/services/data/"
    batch_write_path = r"^/services/data/v[0-9.]+/composite/sobjects"
    token_path = r"^/services/oauth2/token$"
    tight_limits: Mapping[str, Any] = {"daily_api_limit": 120}
    tight_daily_quota = True
    unsupported: Mapping[str, str] = {
        "faults_429": "Salesforce never throttles with 429: its REQUEST_LIMIT_EXCEEDED ('TotalRequests Limit "
        "exceeded') means the daily allocation is spent, a fatal QuotaExhaustedError by design",
    }

    def __init__(self) -> None:
        self.config = SalesforceConfig()

    def emulator(self, **settings: Any) -> ASGIApp:
        custom = {obj: [CustomField(name=EXTERNAL_ID, external_id=True, unique=True)] for obj in OBJECTS.values()}
        self.config = SalesforceConfig(custom_fields=custom, **settings)
        return create_app(self.config)

    async def connector(self, rig: Rig, options: ConnectorOptions) -> Connector:
        from crmsync.connectors.salesforce import SalesforceConnector, SalesforceSettings

        settings = SalesforceSettings(
            auth_flow="client_credentials",
            login_url=rig.base_url,
            client_id=self.config.client_id,
            client_secret=SecretStr(self.config.client_secret),
            external_id_fields=dict.fromkeys(OBJECTS.values(), EXTERNAL_ID),
            query_batch_size=self.small_page if options.small_pages else 2000,
            lookback_s=0,
            daily_api_limit=self.tight_limits["daily_api_limit"] if options.tight_limits else None,
        )
        return SalesforceConnector(settings, connection="conformance-sf", client=rig.client, sleep=rig.sleep)

    def external_id_field(self, role: Role) -> str:
        return EXTERNAL_ID

    def sample(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"Name": f"Conformance Co {n}"}
        if role == "contact":
            return {"FirstName": "Conf", "LastName": f"Person {n}", "Email": f"person{n}@conformance.example"}
        if role == "deal":
            return {"Name": f"Conformance deal {n}", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        return {"Subject": f"Conformance call {n}"}

    def edited(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"Name": f"Renamed Co {n}"}
        if role == "contact":
            return {"Title": f"Edited title {n}"}
        if role == "deal":
            return {"Amount": 1000 + n}
        return {"Subject": f"Edited call {n}"}

    def invalid(self, role: Role) -> dict[str, Any]:
        return {"LastName": "Invalid", "Email": "not-an-email"}

    def required_fields(self, role: Role) -> tuple[str, ...]:
        return {"company": ("Name",), "contact": ("LastName",), "deal": ("Name", "StageName", "CloseDate")}.get(
            role, ()
        )

    def picklist_field(self, role: Role) -> str | None:
        return {"company": "Industry", "contact": "LeadSource", "deal": "StageName", "activity": "Status"}[role]

    # ---- a user, through the REST API with the org's own session -------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.static_session_token}"}

    async def _call(self, rig: Rig, method: str, path: str, body: Any = None) -> Any:
        response = await rig.raw.request(method, f"{API}{path}", json=body, headers=self._headers())
        expect(response.status_code < 300, f"salesforce user {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def user_create(self, rig: Rig, role: Role, records: Sequence[Mapping[str, Any]]) -> list[str]:
        obj = OBJECTS[role]
        ids: list[str] = []
        for start in range(0, len(records), 200):
            chunk = [{"attributes": {"type": obj}, **r} for r in records[start : start + 200]]
            results = await self._call(rig, "POST", "/composite/sobjects", {"allOrNone": True, "records": chunk})
            ids.extend(str(r["id"]) for r in results)
        return ids

    async def user_update(self, rig: Rig, role: Role, record_id: str, fields: Mapping[str, Any]) -> None:
        await self._call(rig, "PATCH", f"/sobjects/{OBJECTS[role]}/{record_id}", dict(fields))

    async def user_delete(self, rig: Rig, role: Role, record_id: str) -> None:
        await self._call(rig, "DELETE", f"/sobjects/{OBJECTS[role]}/{record_id}")

    async def user_merge(self, rig: Rig, role: Role, survivor: str, victim: str) -> MergeOutcome:
        await rig.control("POST", "merge", {"object": OBJECTS[role], "master_id": survivor, "victim_ids": [victim]})
        return MergeOutcome(survivor, (victim,))

    async def remote_records(self, rig: Rig, role: Role) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        page = await self._call(rig, "GET", f"/query?q=SELECT+Id,{EXTERNAL_ID}+FROM+{OBJECTS[role]}")
        while True:
            for row in page["records"]:
                found[str(row["Id"])] = row.get(EXTERNAL_ID)
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                return found
            page = await self._call(rig, "GET", str(next_url).removeprefix(API))

    async def expire_tokens(self, rig: Rig) -> None:
        await rig.control("POST", "expire-tokens")
