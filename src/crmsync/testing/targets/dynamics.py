"""The Dataverse conformance target: the Dataverse connector against the Dataverse emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp

from crmsync.connectors.base import Connector
from crmsync.emulators.dynamics import CustomColumn, DynamicsConfig, create_app
from crmsync.testing.conformance import ConnectorOptions, MergeOutcome, Role, expect
from crmsync.testing.rig import Rig

EXTERNAL_ID = "new_crmsyncid"
API = "/api/data/v9.2"
OBJECTS: dict[Role, str] = {"company": "account", "contact": "contact", "deal": "opportunity", "activity": "task"}
ENTITY_SETS = {"account": "accounts", "contact": "contacts", "opportunity": "opportunities", "task": "tasks"}
PRIMARY_IDS = {"account": "accountid", "contact": "contactid", "opportunity": "opportunityid", "task": "activityid"}


class DynamicsTarget:
    vendor = "dynamics"
    objects: Mapping[Role, str] = OBJECTS
    link_roles: Mapping[Role, tuple[str, ...]] = {
        "company": (),
        "contact": ("company",),
        "deal": ("company", "contact"),
        "activity": ("deal",),  # one regardingobjectid per activity
    }
    mergeable: tuple[Role, ...] = ("company", "contact")
    small_page = 10
    limit_statuses = frozenset({429})
    rate_limit_retry_after = True
    api_path = r"^/api/data/"
    batch_write_path = r"^/api/data/v9\.2/\$batch$"
    token_path = r"/oauth2/v2\.0/token$"
    tight_limits: Mapping[str, Any] = {"concurrent_requests": 3}
    tight_daily_quota = False
    unsupported: Mapping[str, str] = {
        "limits_respected": "Dataverse has no daily allocation, its 5-minute window needs minutes of real time, and "
        "the emulator's 52-concurrent limit cannot be provoked in-process (injected latency runs before admission)",
    }

    def __init__(self) -> None:
        self.config = DynamicsConfig()

    def emulator(self, **settings: Any) -> ASGIApp:
        column = CustomColumn(name=EXTERNAL_ID, max_length=100, alternate_key=True)
        self.config = DynamicsConfig(custom_columns={table: [column] for table in OBJECTS.values()}, **settings)
        return create_app(self.config)

    async def connector(self, rig: Rig, options: ConnectorOptions) -> Connector:
        from crmsync.connectors.dynamics import DynamicsConnector, DynamicsSettings

        settings = DynamicsSettings(
            org_url=rig.base_url,
            authority=rig.base_url,
            tenant_id=self.config.tenant_id,
            client_id=self.config.client_id,
            client_secret=SecretStr(self.config.client_secret),
            external_ids=dict.fromkeys(OBJECTS.values(), EXTERNAL_ID),
            page_size=self.small_page if options.small_pages else 5000,
            # with tight limits: as many requests in flight as the emulator allows, many small fetches
            concurrency=self.tight_limits["concurrent_requests"] if options.tight_limits else 16,
            fetch_chunk=10 if options.tight_limits else 500,
        )
        return DynamicsConnector(settings, connection="conformance-dv", client=rig.client, sleep=rig.sleep)

    def external_id_field(self, role: Role) -> str:
        return EXTERNAL_ID

    def sample(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"name": f"Conformance Co {n}"}
        if role == "contact":
            return {"firstname": "Conf", "lastname": f"Person {n}", "emailaddress1": f"person{n}@conformance.example"}
        if role == "deal":
            return {"name": f"Conformance deal {n}"}
        return {"subject": f"Conformance call {n}"}

    def edited(self, role: Role, n: int) -> dict[str, Any]:
        if role == "company":
            return {"name": f"Renamed Co {n}"}
        if role == "contact":
            return {"jobtitle": f"Edited title {n}"}
        if role == "deal":
            return {"estimatedvalue": 1000 + n}
        return {"subject": f"Edited call {n}"}

    def invalid(self, role: Role) -> dict[str, Any]:
        return {"lastname": "x" * 500}  # lastname holds 50 characters: 0x80044331

    def required_fields(self, role: Role) -> tuple[str, ...]:
        return {"company": ("name",), "contact": ("lastname",), "deal": ("name",)}.get(role, ())

    def picklist_field(self, role: Role) -> str | None:
        return {"company": "industrycode", "contact": None, "deal": "salesstage", "activity": "prioritycode"}[role]

    # ---- a user: another caller of the Web API with its own token ---------------------------------
    async def _call(self, rig: Rig, method: str, path: str, body: Any = None, **headers: str) -> Any:
        issued = await rig.control("POST", "token")
        send = {"Authorization": f"Bearer {issued['access_token']}", "Accept": "application/json", **headers}
        response = await rig.raw.request(
            method, path if path.startswith("http") else f"{API}{path}", json=body, headers=send
        )
        expect(response.status_code < 300, f"dataverse user {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def user_create(self, rig: Rig, role: Role, records: Sequence[Mapping[str, Any]]) -> list[str]:
        table = OBJECTS[role]
        ids = []
        for record in records:
            row = await self._call(rig, "POST", f"/{ENTITY_SETS[table]}", dict(record), Prefer="return=representation")
            ids.append(str(row[PRIMARY_IDS[table]]))
        return ids

    async def user_update(self, rig: Rig, role: Role, record_id: str, fields: Mapping[str, Any]) -> None:
        table = OBJECTS[role]
        await self._call(rig, "PATCH", f"/{ENTITY_SETS[table]}({record_id})", dict(fields), **{"If-Match": "*"})

    async def user_delete(self, rig: Rig, role: Role, record_id: str) -> None:
        await self._call(rig, "DELETE", f"/{ENTITY_SETS[OBJECTS[role]]}({record_id})")

    async def user_merge(self, rig: Rig, role: Role, survivor: str, victim: str) -> MergeOutcome:
        await rig.control("POST", "merge", {"table": OBJECTS[role], "target": survivor, "subordinate": victim})
        return MergeOutcome(survivor, (victim,))

    async def remote_records(self, rig: Rig, role: Role) -> dict[str, str | None]:
        table = OBJECTS[role]
        mergeable = role in self.mergeable
        select = [PRIMARY_IDS[table], EXTERNAL_ID, *(["merged"] if mergeable else [])]
        found: dict[str, str | None] = {}
        path = f"/{ENTITY_SETS[table]}?$select={','.join(select)}"
        while True:
            page = await self._call(rig, "GET", path, Prefer="odata.maxpagesize=5000")
            for row in page["value"]:
                if not (mergeable and row.get("merged")):  # merged subordinates stay readable, but are gone
                    found[str(row[PRIMARY_IDS[table]])] = row.get(EXTERNAL_ID)
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return found
            path = str(next_link)

    async def expire_tokens(self, rig: Rig) -> None:
        await rig.control("POST", "tokens/expire")
