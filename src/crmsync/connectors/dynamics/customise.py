"""`crmsync check --fix` on Dataverse: the external-id column and its alternate key, made through the Web API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from crmsync.connectors.dynamics.settings import ODATA_HEADERS
from crmsync.connectors.http import VendorHttp, parse_json
from crmsync.errors import ConfigError

KEY_WAIT_S = 20.0
"""How long `--fix` waits for a new key's index (a system job in Dataverse): long enough for a small table."""
KEY_POLL_S = 1.0
ID_COLUMN_LENGTH = 100  # crmsync's ids are 36 characters; 100 is Dataverse's default for a text column


@dataclass(frozen=True, slots=True)
class KeyOutcome:
    """What was made: the column, the key, and whether the key's index is Active yet."""

    column_created: bool
    key_created: bool
    active: bool

    @property
    def created(self) -> bool:
        return self.column_created or self.key_created


def _label(text: str) -> dict[str, Any]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [
            {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": 1033}
        ],
    }


class ExternalIdKeys:
    """Creates `table.column` (a text column) and a single-column alternate key on it, then waits for the key."""

    def __init__(self, http: VendorHttp, api_root: str, pause: Callable[[float], Awaitable[None]]) -> None:
        self.http = http
        self.api_root = api_root
        self.pause = pause

    async def ensure(self, table: str, column: str) -> KeyOutcome:
        base = f"{self.api_root}/EntityDefinitions(LogicalName='{table}')"
        column_created = await self._column(base, table, column)
        key, key_created = await self._key(base, table, column)
        active = await self._wait_active(base, table, column, key)
        return KeyOutcome(column_created, key_created, active)

    async def _get(self, url: str, context: str, *accept: int) -> httpx.Response:
        return await self.http.request("GET", url, context=context, headers=ODATA_HEADERS, accept=accept)

    async def _column(self, base: str, table: str, column: str) -> bool:
        context = f"dynamics {table} column {column}"
        response = await self._get(f"{base}/Attributes(LogicalName='{column}')?$select=AttributeType", context, 404)
        if response.status_code == 200:
            found = parse_json(response, f"{self.http.connection}: {context}")
            kind = found.get("AttributeType") if isinstance(found, dict) else None
            if kind != "String":
                raise ConfigError(
                    f"{self.http.connection}: Dataverse column {table}.{column} exists as {kind}, not text: "
                    "it cannot hold crmsync's ids; name another column in external_ids"
                )
            return False
        definition = {
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "SchemaName": column,
            "AttributeType": "String",
            "AttributeTypeName": {"Value": "StringType"},
            "MaxLength": ID_COLUMN_LENGTH,
            "FormatName": {"Value": "Text"},
            "DisplayName": _label("crmsync id"),
            "Description": _label("Canonical record id written by crmsync (upsert key); do not edit."),
            "RequiredLevel": {
                "Value": "None",
                "CanBeChanged": True,
                "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
            },
        }
        await self.http.request("POST", f"{base}/Attributes", context=context, headers=ODATA_HEADERS, json=definition)
        return True

    async def _keys(self, base: str, table: str) -> list[dict[str, Any]]:
        context = f"dynamics {table} keys"
        response = await self._get(f"{base}/Keys?$select=SchemaName,KeyAttributes,EntityKeyIndexStatus", context)
        body = parse_json(response, f"{self.http.connection}: {context}")
        rows = body.get("value") if isinstance(body, dict) else None
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    async def _key(self, base: str, table: str, column: str) -> tuple[str, bool]:
        for key in await self._keys(base, table):
            if key.get("KeyAttributes") == [column]:
                return str(key.get("SchemaName")), False
        name = f"{column}_key"
        definition = {"SchemaName": name, "DisplayName": _label("crmsync id"), "KeyAttributes": [column]}
        context = f"dynamics {table} key {name}"
        await self.http.request("POST", f"{base}/Keys", context=context, headers=ODATA_HEADERS, json=definition)
        return name, True

    async def _wait_active(self, base: str, table: str, column: str, name: str) -> bool:
        """Active within KEY_WAIT_S; False while still building; a failed index is the user's to clear."""
        waited = 0.0
        while True:
            status = next(
                (
                    str(k.get("EntityKeyIndexStatus"))
                    for k in await self._keys(base, table)
                    if k.get("SchemaName") == name
                ),
                "missing",
            )
            if status == "Active":
                return True
            if status == "Failed":
                raise ConfigError(
                    f"{self.http.connection}: the alternate key {name} on {table}.{column} failed to build "
                    "(EntityKeyIndexStatus Failed): rows already share a value in the column; clear the "
                    "duplicates, then reactivate the key in Power Apps (Tables → Keys)"
                )
            if waited >= KEY_WAIT_S:
                return False
            await self.pause(KEY_POLL_S)
            waited += KEY_POLL_S


__all__ = ["KEY_WAIT_S", "ExternalIdKeys", "KeyOutcome"]
