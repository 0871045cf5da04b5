"""The HubSpot conformance target: the HubSpot connector (OAuth) against the HubSpot emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp

from crmsync.connectors.base import Connector
from crmsync.emulators.hubspot import HubSpotConfig, create_app
from crmsync.testing.conformance import ConnectorOptions, MergeOutcome, Role, expect
from crmsync.testing.rig import Rig

EXTERNAL_ID = "crmsync_id"
OBJECTS: dict[Role, str] = {"company": "companies", "contact": "contacts", "deal": "deals", "activity": "tasks"}


class HubSpotTarget:
    vendor = "hubspot"
    objects: Mapping[Role, str] = OBJECTS
    link_roles: Mapping[Role, tuple[str, ...]] = {
        "company": (),
        "contact": ("company",),
        "deal": ("company", "contact"),
        "activity": ("contact", "company", "deal"),
    }
    mergeable: tuple[Role, ...] = ("company", "contact", "deal")
    small_page = 10
    limit_statuses = frozenset({429})
    rate_limit_retry_after = True
    api_path = r"^/crm/"
    batch_write_path = r"^/crm/v3/objects/[^/]+/batch/(create|update|upsert|archive)$"
    token_path = r"^/oauth/v1/token$"
    tight_limits: Mapping[str, Any] = {"daily_limit": 120}
    tight_daily_quota = True
    unsupported: Mapping[str, str] = {
        "partial_batch_fault": "HubSpot documents no per-item transient error category; the emulator injects the "
        "failed items as VALIDATION_ERROR, which the connector rightly classifies as invalid",
    }

    def __init__(self) -> None:
        self.config = HubSpotConfig()

    def emulator(self, **settings: Any) -> ASGIApp:
        unique = [
            {
                "objectType": obj,
                "name": EXTERNAL_ID,
                "label": "crmsync id",
                "type": "string",
                "fieldType": "text",
                "groupName": f"{obj[:-1]}information",
                "hasUniqueValue": True,
            }
            for obj in OBJECTS.values()
        ]
        self.config = HubSpotConfig(custom_properties=unique, **settings)
        return create_app(self.config)

    async def connector(self, rig: Rig, options: ConnectorOptions) -> Connector:
        from crmsync.connectors.hubspot import HubSpotConnector, HubSpotSettings

        small = options.small_pages
        settings = HubSpotSettings(
            base_url=rig.base_url,
            client_id=self.config.client_id,
            client_secret=SecretStr(self.config.client_secret),
            refresh_token=SecretStr(self.config.refresh_token),
            external_id_properties=dict.fromkeys(OBJECTS.values(), EXTERNAL_ID),
            page_size=self.small_page if small else 100,
            search_page_size=self.small_page if small else 200,
            # a small cap makes the suite's reads cross HubSpot's 10,000-result search limit
            search_result_cap=2 * self.small_page if small else 10_000,
            lookback_s=0,  # the emulator's search index has no lag
            daily_limit=self.tight_limits["daily_limit"] if options.tight_limits else None,
        )
        return HubSpotConnector(settings, connection="conformance-hs", client=rig.client, sleep=rig.sleep)

    def external_id_field(self, role: Role) -> str:
        return EXTERNAL_ID

    def sample(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"name": f"Conformance Co {n}", "domain": f"co{n}.conformance.example"}
        if role == "contact":
            return {"email": f"person{n}@conformance.example", "firstname": "Conf", "lastname": f"Person {n}"}
        if role == "deal":
            return {"dealname": f"Conformance deal {n}", "pipeline": "default", "dealstage": "appointmentscheduled"}
        return {"hs_task_subject": f"Conformance call {n}", "hs_timestamp": "2026-01-01T00:00:00Z"}

    def edited(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"name": f"Renamed Co {n}"}
        if role == "contact":
            return {"jobtitle": f"Edited title {n}"}
        if role == "deal":
            return {"amount": str(1000 + n)}
        return {"hs_task_subject": f"Edited call {n}"}

    def invalid(self, role: Role) -> dict[str, Any]:
        return {"email": "not-an-email", "lastname": "Invalid"}

    def required_fields(self, role: Role) -> tuple[str, ...]:
        return ()  # HubSpot's properties API marks nothing required

    def picklist_field(self, role: Role) -> str | None:
        return {"company": "industry", "contact": "lifecyclestage", "deal": "dealstage", "activity": "hs_task_status"}[
            role
        ]

    # ---- a user, in the HubSpot UI (control plane) or with the private-app token -----------------
    async def user_create(self, rig: Rig, role: Role, records: Sequence[Mapping[str, Any]]) -> list[str]:
        ids = []
        for record in records:
            created = await rig.control("POST", "ui-edit", {"objectType": OBJECTS[role], "properties": dict(record)})
            ids.append(str(created["id"]))
        return ids

    async def user_update(self, rig: Rig, role: Role, record_id: str, fields: Mapping[str, Any]) -> None:
        await rig.control("POST", "ui-edit", {"objectType": OBJECTS[role], "id": record_id, "properties": dict(fields)})

    async def user_delete(self, rig: Rig, role: Role, record_id: str) -> None:
        await rig.control("POST", "ui-edit", {"objectType": OBJECTS[role], "id": record_id, "archive": True})

    async def user_merge(self, rig: Rig, role: Role, survivor: str, victim: str) -> MergeOutcome:
        body = {"objectType": OBJECTS[role], "primaryObjectId": survivor, "objectIdToMerge": victim}
        merged = await rig.control("POST", "merge", body)
        new_id = str(merged["id"])  # HubSpot gives the merged record a new id; both old ids alias to it
        return MergeOutcome(new_id, tuple(i for i in (survivor, victim) if i != new_id))

    async def remote_records(self, rig: Rig, role: Role) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        params = {"limit": "100", "properties": EXTERNAL_ID}
        headers = {"Authorization": f"Bearer {self.config.private_app_token}"}
        while True:
            response = await rig.raw.get(f"/crm/v3/objects/{OBJECTS[role]}", params=params, headers=headers)
            expect(response.status_code == 200, f"hubspot list {OBJECTS[role]}: {response.status_code} {response.text}")
            page = response.json()
            for row in page["results"]:
                found[str(row["id"])] = row["properties"].get(EXTERNAL_ID) or None
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return found
            params["after"] = str(after)

    async def expire_tokens(self, rig: Rig) -> None:
        await rig.control("POST", "tokens/expire", {})
