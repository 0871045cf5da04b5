"""A person editing the Salesforce emulator through the REST API (OAuth client credentials, sObjects, SOQL)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from crmsync.testing.sandbox.control import ControlPlane
from crmsync.testing.sandbox.names import OBJECTS, object_name
from crmsync.testing.sandbox.session import Sleep, UserSession

API: Final = "/services/data/v60.0"
JUNCTION: Final = "OpportunityContactRole"
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
# Key prefixes: a polymorphic WhatId/WhoId says what it points at only through its id's first three characters.
_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006"}
# (child, parent) -> the child's foreign key; Opportunity -> Contact is a contact role row instead.
_LOOKUPS = {
    ("Contact", "Account"): "AccountId",
    ("Opportunity", "Account"): "AccountId",
    ("Task", "Contact"): "WhoId",
    ("Task", "Account"): "WhatId",
    ("Task", "Opportunity"): "WhatId",
    ("Event", "Contact"): "WhoId",
    ("Event", "Account"): "WhatId",
    ("Event", "Opportunity"): "WhatId",
}


def soql_literal(value: object) -> str:
    """A value written as a SOQL literal (strings quoted and escaped)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _field(name: str) -> str:
    if not _FIELD_NAME.match(name):
        raise ValueError(f"not a Salesforce field name: {name!r}")
    return name


class SalesforceUser:
    """Creates, edits, deletes, finds, merges and relates records the way a Salesforce user's tools do.

    Objects are Salesforce names (`Contact`) or canonical kinds (`contact`). Salesforce has no REST merge
    (merges run in the UI or over SOAP `merge()`, which crmsync's connector calls), so `merge` uses the
    emulator's `/_emulator/merge`, the same merge a person makes: children re-parented, victims deleted with
    `MasterRecordId` set.
    """

    vendor: Final = "salesforce"

    def __init__(self, base_url: str, client_id: str, client_secret: str, *, sleep: Sleep) -> None:
        self.base_url = base_url
        self.objects = OBJECTS["salesforce"]
        self.control = ControlPlane("salesforce", base_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self.session = UserSession("salesforce", base_url, self._login, sleep=sleep)

    def __repr__(self) -> str:
        return f"SalesforceUser({self.base_url!r})"

    async def _login(self, session: UserSession) -> str:
        form = {"grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._client_secret}
        return await session.form_token("/services/oauth2/token", form)

    # ---- records --------------------------------------------------------------------------------
    async def create(self, object: str, fields: Mapping[str, Any]) -> str:
        obj = object_name("salesforce", object)
        body = (await self.session.send("POST", f"{API}/sobjects/{obj}", json=dict(fields))).json()
        return str(body["id"])

    async def update(self, object: str, id: str, fields: Mapping[str, Any]) -> None:
        obj = object_name("salesforce", object)
        await self.session.send("PATCH", f"{API}/sobjects/{obj}/{id}", json=dict(fields))

    async def delete(self, object: str, id: str) -> None:
        await self.session.send("DELETE", f"{API}/sobjects/{object_name('salesforce', object)}/{id}")

    async def get(self, object: str, id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        """Every field (or `fields`) of a live record; None when it is deleted or never existed."""
        obj = object_name("salesforce", object)
        params = {"fields": ",".join(_field(f) for f in fields)} if fields else None
        response = await self.session.send("GET", f"{API}/sobjects/{obj}/{id}", params=params, ok=(404,))
        if response.status_code == 404:
            return None
        record: dict[str, Any] = response.json()
        record.pop("attributes", None)
        return record

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Every row of a SOQL query, following `nextRecordsUrl`."""
        rows: list[dict[str, Any]] = []
        page = (await self.session.send("GET", f"{API}/query", params={"q": soql})).json()
        while True:
            for row in page["records"]:
                row.pop("attributes", None)
                rows.append(row)
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                return rows
            page = (await self.session.send("GET", urlsplit(str(next_url)).path)).json()

    async def find(
        self, object: str, field: str, value: object, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Live records whose `field` equals `value` (SOQL; text compares case-insensitively, as Salesforce does)."""
        obj = object_name("salesforce", object)
        ids = await self.query(f"SELECT Id FROM {obj} WHERE {_field(field)} = {soql_literal(value)} ORDER BY Id")
        found = [await self.get(obj, str(row["Id"]), fields) for row in ids]
        return [record for record in found if record is not None]

    async def count(self, object: str) -> int:
        obj = object_name("salesforce", object)
        page = (await self.session.send("GET", f"{API}/query", params={"q": f"SELECT COUNT() FROM {obj}"})).json()
        return int(page["totalSize"])

    async def merge(self, object: str, survivor_id: str, victim_id: str) -> str:
        """Merge `victim_id` into `survivor_id` (Account, Contact); returns the survivor's id."""
        body = {"object": object_name("salesforce", object), "master_id": survivor_id, "victim_ids": [victim_id]}
        merged = await self.control.call("POST", "merge", body)
        return str(merged["id"])

    # ---- relationships --------------------------------------------------------------------------
    async def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        """Point a record at a parent: its lookup field (AccountId, WhoId, WhatId), or a contact role for a deal."""
        child, parent = object_name("salesforce", from_object), object_name("salesforce", to_object)
        if (child, parent) == ("Opportunity", "Contact"):
            await self.create(JUNCTION, {"OpportunityId": from_id, "ContactId": to_id})
            return
        await self.update(child, from_id, {_lookup(child, parent): to_id})

    async def dissociate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        child, parent = object_name("salesforce", from_object), object_name("salesforce", to_object)
        if (child, parent) == ("Opportunity", "Contact"):
            for row in await self._contact_roles(from_id, to_id):
                await self.delete(JUNCTION, str(row["Id"]))
            return
        field = _lookup(child, parent)
        record = await self.get(child, from_id, [field])
        if record is not None and record.get(field) == to_id:
            await self.update(child, from_id, {field: None})

    async def associated(self, from_object: str, from_id: str, to_object: str) -> list[str]:
        """Ids of the `to_object` records this record points at."""
        child, parent = object_name("salesforce", from_object), object_name("salesforce", to_object)
        if (child, parent) == ("Opportunity", "Contact"):
            return list(dict.fromkeys(str(row["ContactId"]) for row in await self._contact_roles(from_id)))
        field = _lookup(child, parent)
        record = await self.get(child, from_id, [field])
        value = record.get(field) if record else None
        return [value] if isinstance(value, str) and value.startswith(_PREFIXES[parent]) else []

    async def _contact_roles(self, opportunity_id: str, contact_id: str | None = None) -> list[dict[str, Any]]:
        where = f"OpportunityId = {soql_literal(opportunity_id)}"
        if contact_id is not None:
            where += f" AND ContactId = {soql_literal(contact_id)}"
        return await self.query(f"SELECT Id, ContactId FROM {JUNCTION} WHERE {where} ORDER BY Id")

    async def aclose(self) -> None:
        await self.session.aclose()
        await self.control.aclose()


def _lookup(child: str, parent: str) -> str:
    field = _LOOKUPS.get((child, parent))
    if field is None:
        pairs = ", ".join(f"{c} -> {p}" for c, p in (*_LOOKUPS, ("Opportunity", "Contact")))
        raise ValueError(f"Salesforce has no {child} -> {parent} relationship here (known: {pairs})")
    return field


__all__ = ["API", "SalesforceUser", "soql_literal"]
