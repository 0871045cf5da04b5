"""A person editing the HubSpot emulator through the CRM API (private-app token, objects, search, v4 associations)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from crmsync.testing.sandbox.control import ControlPlane
from crmsync.testing.sandbox.names import OBJECTS, object_name
from crmsync.testing.sandbox.session import Sleep, UserSession

OBJECTS_API: Final = "/crm/v3/objects"
SEARCH_PAGE: Final = 200
BATCH_LIMIT: Final = 100
"""HubSpot's batch endpoints take at most 100 inputs."""


def property_value(value: object) -> str:
    """A value as HubSpot's API writes it in filters: strings, with booleans lowercase and dates ISO."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


class HubSpotUser:
    """Creates, edits, archives, finds, merges and associates records the way a HubSpot integration user does.

    Objects are HubSpot names (`contacts`) or canonical kinds (`contact`). `get` and `find` read every
    property the object has (its property list is read once per object and kept).
    """

    vendor: Final = "hubspot"

    def __init__(self, base_url: str, private_app_token: str, *, sleep: Sleep) -> None:
        self.base_url = base_url
        self.objects = OBJECTS["hubspot"]
        self.control = ControlPlane("hubspot", base_url)
        self._token = private_app_token
        self.session = UserSession("hubspot", base_url, self._login, sleep=sleep)
        self._properties: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"HubSpotUser({self.base_url!r})"

    async def _login(self, session: UserSession) -> str:
        return self._token  # a private-app token is the bearer token itself and never expires

    # ---- records --------------------------------------------------------------------------------
    async def create(self, object: str, fields: Mapping[str, Any]) -> str:
        obj = object_name("hubspot", object)
        body = (await self.session.send("POST", f"{OBJECTS_API}/{obj}", json={"properties": dict(fields)})).json()
        return str(body["id"])

    async def update(self, object: str, id: str, fields: Mapping[str, Any]) -> None:
        obj = object_name("hubspot", object)
        await self.session.send("PATCH", f"{OBJECTS_API}/{obj}/{id}", json={"properties": dict(fields)})

    async def update_many(self, object: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Edit many records through the batch endpoint, 100 a call, as a bulk-editing integration does."""
        obj = object_name("hubspot", object)
        inputs = [{"id": id, "properties": dict(fields)} for id, fields in changes.items()]
        for start in range(0, len(inputs), BATCH_LIMIT):
            body = {"inputs": inputs[start : start + BATCH_LIMIT]}
            await self.session.send("POST", f"{OBJECTS_API}/{obj}/batch/update", json=body)

    async def delete(self, object: str, id: str) -> None:
        """Archive the record (HubSpot's delete; it stays restorable for 90 days)."""
        await self.session.send("DELETE", f"{OBJECTS_API}/{object_name('hubspot', object)}/{id}")

    async def get(self, object: str, id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The record's properties plus `id`; None when archived or unknown. A merged-away id reads the survivor."""
        obj = object_name("hubspot", object)
        names = list(fields) if fields else await self.property_names(obj)
        params = {"properties": ",".join(names)}
        response = await self.session.send("GET", f"{OBJECTS_API}/{obj}/{id}", params=params, ok=(404,))
        if response.status_code == 404:
            return None
        return _flat(response.json())

    async def search(self, object: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every result of a search request (filterGroups, sorts, properties), following `paging.next.after`."""
        obj = object_name("hubspot", object)
        request = {"limit": SEARCH_PAGE, **body}
        found: list[dict[str, Any]] = []
        while True:
            page = (await self.session.send("POST", f"{OBJECTS_API}/{obj}/search", json=request)).json()
            found.extend(_flat(row) for row in page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return found
            request["after"] = str(after)

    async def find(
        self, object: str, field: str, value: object, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Live records whose property equals `value` (None: records without a value), through the search API."""
        obj = object_name("hubspot", object)
        condition: dict[str, Any] = {"propertyName": field, "operator": "NOT_HAS_PROPERTY"}
        if value is not None:
            condition = {"propertyName": field, "operator": "EQ", "value": property_value(value)}
        names = list(fields) if fields else await self.property_names(obj)
        body = {"filterGroups": [{"filters": [condition]}], "properties": names, "sorts": ["hs_object_id"]}
        return await self.search(obj, body)

    async def count(self, object: str) -> int:
        obj = object_name("hubspot", object)
        page = (await self.session.send("POST", f"{OBJECTS_API}/{obj}/search", json={"limit": 1})).json()
        return int(page["total"])

    async def merge(self, object: str, survivor_id: str, victim_id: str) -> str:
        """Merge two records (contacts, companies, deals); returns the merged record's id, which HubSpot renews."""
        obj = object_name("hubspot", object)
        body = {"primaryObjectId": survivor_id, "objectIdToMerge": victim_id}
        return str((await self.session.send("POST", f"{OBJECTS_API}/{obj}/merge", json=body)).json()["id"])

    async def property_names(self, object: str) -> list[str]:
        obj = object_name("hubspot", object)
        if obj not in self._properties:
            body = (await self.session.send("GET", f"/crm/v3/properties/{obj}")).json()
            self._properties[obj] = sorted(str(p["name"]) for p in body["results"])
        return self._properties[obj]

    # ---- relationships --------------------------------------------------------------------------
    async def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        """The default (unlabelled) v4 association, which HubSpot creates in both directions."""
        f, t = object_name("hubspot", from_object), object_name("hubspot", to_object)
        await self.session.send("PUT", f"/crm/v4/objects/{f}/{from_id}/associations/default/{t}/{to_id}")

    async def dissociate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        f, t = object_name("hubspot", from_object), object_name("hubspot", to_object)
        await self.session.send("DELETE", f"/crm/v4/objects/{f}/{from_id}/associations/{t}/{to_id}")

    async def associated(self, from_object: str, from_id: str, to_object: str) -> list[str]:
        """Ids of the `to_object` records associated with this one."""
        f, t = object_name("hubspot", from_object), object_name("hubspot", to_object)
        path = f"/crm/v4/objects/{f}/{from_id}/associations/{t}"
        params: dict[str, str] = {"limit": "500"}
        ids: list[str] = []
        while True:
            page = (await self.session.send("GET", path, params=params)).json()
            ids.extend(str(row["toObjectId"]) for row in page["results"])
            after = page.get("paging", {}).get("next", {}).get("after")
            if not after:
                return list(dict.fromkeys(ids))
            params["after"] = str(after)

    async def aclose(self) -> None:
        await self.session.aclose()
        await self.control.aclose()


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row.get("properties", {}), "id": str(row["id"])}


__all__ = ["HubSpotUser", "property_value"]
