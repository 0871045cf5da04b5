"""A person editing the Dataverse emulator through the Web API (Entra client credentials, OData, actions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final
from uuid import UUID

from crmsync.testing.sandbox.control import ControlPlane
from crmsync.testing.sandbox.names import OBJECTS, object_name
from crmsync.testing.sandbox.session import Sleep, UserSession

API: Final = "/api/data/v9.2"
LOOKUP_TABLE: Final = "@Microsoft.Dynamics.CRM.lookuplogicalname"
_ANNOTATIONS = {"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'}
_PAGE = {"Prefer": "odata.maxpagesize=5000"}


@dataclass(frozen=True, slots=True)
class _Table:
    entity_set: str
    primary_id: str
    mergeable: bool = False  # account and contact: merged subordinates stay as deactivated rows


TABLES: Final = {
    "account": _Table("accounts", "accountid", True),
    "contact": _Table("contacts", "contactid", True),
    "opportunity": _Table("opportunities", "opportunityid"),
    "task": _Table("tasks", "activityid"),
    "phonecall": _Table("phonecalls", "activityid"),
    "appointment": _Table("appointments", "activityid"),
    "annotation": _Table("annotations", "annotationid"),
}
# (table, related table) -> the single-valued navigation property bound with `@odata.bind`.
_NAVIGATION = {
    ("contact", "account"): "parentcustomerid_account",
    ("opportunity", "account"): "customerid_account",
    ("opportunity", "contact"): "parentcontactid",
    ("account", "account"): "parentaccountid",
    ("account", "contact"): "primarycontactid",
    **{
        (activity, parent): f"regardingobjectid_{parent}_{activity}"
        for activity in ("task", "phonecall", "appointment")
        for parent in ("account", "contact", "opportunity")
    },
}
WON: Final = 3  # opportunity statuscode Won
LOST: Final = 4  # opportunity statuscode Canceled (state Lost)


def odata_literal(value: object) -> str:
    """A value written as an OData literal: strings quoted (`''` escapes), GUIDs (UUID) and numbers bare."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return "'" + str(value).replace("'", "''") + "'"


def _table(name: str) -> tuple[str, _Table]:
    logical = object_name("dynamics", name)
    table = TABLES.get(logical)
    if table is None:
        raise ValueError(f"the sandbox does not know Dataverse table {logical!r} (known: {', '.join(TABLES)})")
    return logical, table


def _navigation(child: str, parent: str) -> str:
    nav = _NAVIGATION.get((child, parent))
    if nav is None:
        pairs = ", ".join(f"{c} -> {p}" for c, p in _NAVIGATION)
        raise ValueError(f"Dataverse has no {child} -> {parent} lookup here (known: {pairs})")
    return nav


class DynamicsUser:
    """Creates, edits, deletes, finds, merges, relates and closes records the way a Dataverse app user does.

    Objects are logical names (`contact`) or canonical kinds. Merged subordinates stay readable in
    Dataverse (deactivated, `masterid` set): `get` returns them, while `find` and `count` leave them out
    because they are no longer live records.
    """

    vendor: Final = "dynamics"

    def __init__(self, base_url: str, tenant_id: str, client_id: str, client_secret: str, *, sleep: Sleep) -> None:
        self.base_url = base_url
        self.objects = OBJECTS["dynamics"]
        self.control = ControlPlane("dynamics", base_url)
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self.session = UserSession("dynamics", base_url, self._login, sleep=sleep)

    def __repr__(self) -> str:
        return f"DynamicsUser({self.base_url!r})"

    async def _login(self, session: UserSession) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": f"{self.base_url}/.default",
        }
        return await session.form_token(f"/{self._tenant_id}/oauth2/v2.0/token", form)

    # ---- records --------------------------------------------------------------------------------
    async def create(self, object: str, fields: Mapping[str, Any]) -> str:
        _, table = _table(object)
        response = await self.session.send(
            "POST",
            f"{API}/{table.entity_set}",
            json=dict(fields),
            params={"$select": table.primary_id},
            headers={"Prefer": "return=representation"},
        )
        return str(response.json()[table.primary_id])

    async def update(self, object: str, id: str, fields: Mapping[str, Any]) -> None:
        """Update an existing row (`If-Match: *`, so a missing row is a 404 rather than an upsert)."""
        _, table = _table(object)
        await self.session.send(
            "PATCH", f"{API}/{table.entity_set}({id})", json=dict(fields), headers={"If-Match": "*"}
        )

    async def delete(self, object: str, id: str) -> None:
        _, table = _table(object)
        await self.session.send("DELETE", f"{API}/{table.entity_set}({id})")

    async def get(self, object: str, id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The row's columns (lookups as `_x_value`); None when deleted or never there."""
        _, table = _table(object)
        params = {"$select": ",".join(fields)} if fields else None
        path = f"{API}/{table.entity_set}({id})"
        response = await self.session.send("GET", path, params=params, headers=_ANNOTATIONS, ok=(404,))
        if response.status_code == 404:
            return None
        return _clean(response.json())

    async def rows(self, object: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every row of a query (`$filter`, `$select`, `$orderby`), following `@odata.nextLink`."""
        _, table = _table(object)
        found: list[dict[str, Any]] = []
        page = (await self.session.send("GET", f"{API}/{table.entity_set}", params=params, headers=_PAGE)).json()
        while True:
            found.extend(_clean(row) for row in page["value"])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return found
            page = (await self.session.send("GET", str(next_link), headers=_PAGE)).json()

    async def find(
        self, object: str, field: str, value: object, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Live rows whose column equals `value` (pass a UUID to compare a lookup's `_x_value`)."""
        _, table = _table(object)
        condition = f"{field} eq {odata_literal(value)}"
        live = _live(table)
        params = {"$filter": f"({condition}) and {live}" if live else condition, "$orderby": "createdon asc"}
        if fields:
            params["$select"] = ",".join(fields)
        return await self.rows(object, params)

    async def count(self, object: str) -> int:
        """Live rows, counted by paging (the `$count` endpoint stops at 5,000)."""
        _, table = _table(object)
        params = {"$select": table.primary_id}
        live = _live(table)
        if live:
            params["$filter"] = live
        return len(await self.rows(object, params))

    async def merge(self, object: str, survivor_id: str, victim_id: str) -> str:
        """The `Merge` action (account, contact): children move to the survivor, the victim is deactivated."""
        logical, table = _table(object)
        party = f"Microsoft.Dynamics.CRM.{logical}"
        body = {
            "Target": {"@odata.type": party, table.primary_id: survivor_id},
            "Subordinate": {"@odata.type": party, table.primary_id: victim_id},
            "PerformParentingChecks": False,
        }
        await self.session.send("POST", f"{API}/Merge", json=body)
        return survivor_id

    async def win_opportunity(self, id: str, *, status: int = WON, revenue: float | None = None) -> None:
        await self._close(id, "WinOpportunity", "Won", status, revenue)

    async def lose_opportunity(self, id: str, *, status: int = LOST) -> None:
        await self._close(id, "LoseOpportunity", "Lost", status, None)

    async def _close(self, id: str, action: str, subject: str, status: int, revenue: float | None) -> None:
        close: dict[str, Any] = {"opportunityid@odata.bind": f"/opportunities({id})", "subject": subject}
        if revenue is not None:
            close["actualrevenue"] = revenue
        await self.session.send("POST", f"{API}/{action}", json={"OpportunityClose": close, "Status": status})

    # ---- relationships --------------------------------------------------------------------------
    async def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        """Set the row's lookup to the related row with `<navigation>@odata.bind`."""
        child, _ = _table(from_object)
        parent, parent_table = _table(to_object)
        bind = {f"{_navigation(child, parent)}@odata.bind": f"/{parent_table.entity_set}({to_id})"}
        await self.update(child, from_id, bind)

    async def dissociate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        child, _ = _table(from_object)
        parent, _ = _table(to_object)
        if to_id in await self.associated(child, from_id, parent):
            await self.update(child, from_id, {f"{_navigation(child, parent)}@odata.bind": None})

    async def associated(self, from_object: str, from_id: str, to_object: str) -> list[str]:
        """Ids of the `to_object` rows this row's lookup points at."""
        child, _ = _table(from_object)
        parent, _ = _table(to_object)
        column = f"_{_navigation(child, parent).split('_')[0]}_value"
        row = await self.get(child, from_id)
        value = row.get(column) if row else None
        points_at = row.get(column + LOOKUP_TABLE, parent) if row else None
        return [str(value)] if value is not None and points_at == parent else []

    async def aclose(self) -> None:
        await self.session.aclose()
        await self.control.aclose()


def _live(table: _Table) -> str | None:
    """The filter that leaves merged subordinates out (None for tables without merges)."""
    return "_masterid_value eq null" if table.mergeable else None


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("@odata.")}


__all__ = ["API", "LOST", "TABLES", "WON", "DynamicsUser", "odata_literal"]
