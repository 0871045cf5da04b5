"""Every key a recorded real HubSpot response carries is present in ours, with the same JSON type.

The expected keys (names and type names only) live in tests/fixtures/expected_keys/hubspot/, written
from the recorded traffic in shared/specs; each fixture also holds the request we replay here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "expected_keys" / "hubspot"
TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def json_type(value: Any) -> str:
    return "null" if value is None else TYPE_NAMES[type(value)]


def at_path(value: Any, path: str) -> list[Any]:
    """All values a `$.a[].b` path reaches."""
    found = [value]
    for part in path.split(".")[1:]:
        name, many = (part[:-2], True) if part.endswith("[]") else (part, False)
        found = [v[name] for v in found if isinstance(v, dict) and name in v]
        if many:
            found = [item for v in found if isinstance(v, list) for item in v]
    return found


async def world(client: httpx.AsyncClient) -> dict[str, str]:
    async def make(kind: str, props: dict[str, Any], assoc: list[dict[str, Any]] | None = None) -> str:
        body: dict[str, Any] = {"properties": props}
        if assoc:
            body["associations"] = assoc
        r = await client.post(f"/crm/v3/objects/{kind}", json=body)
        assert r.status_code == 201, r.text
        object_id: str = r.json()["id"]
        return object_id

    contact = await make("contacts", {"email": "shape@example.com", "firstname": "S", "lastname": "H"})
    company = await make("companies", {"name": "Acme Shapes", "domain": "acme.example"})
    deal = await make("deals", {"dealname": "Deal", "amount": "5", "dealstage": "appointmentscheduled"})
    await make("deals", {"dealname": "Deal 2"})
    link = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}
    await make("tasks", {"hs_task_subject": "T"}, [{"to": {"id": contact}, "types": [link]}])
    return {"contact": contact, "company": company, "deal": deal}


def fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, object_id in ids.items():
            value = value.replace("{" + name + "}", object_id)
        return value
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


SPECS = {path.stem: json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))}


@pytest.mark.parametrize("name", sorted(SPECS))
async def test_recorded_keys_present_with_same_types(client: httpx.AsyncClient, name: str) -> None:
    spec = SPECS[name]
    assert len(SPECS) >= 20
    ids = await world(client)
    request = fill(spec["request"], ids)
    r = await client.request(request["method"], request["path"], params=request.get("params"), json=request.get("body"))
    assert r.status_code // 100 == spec["status_class"], r.text
    if not spec["keys"]:
        assert r.content == b""
        return
    body = r.json()
    for path, keys in spec["keys"].items():
        ours = [v for v in at_path(body, path) if isinstance(v, dict)]
        assert ours, f"{name}: nothing at {path}"
        for key, recorded_type in keys.items():
            for item in ours:
                assert key in item, f"{name}: {path} lacks {key!r}"
                if recorded_type != "null" and item[key] is not None:
                    assert json_type(item[key]) == recorded_type, f"{name}: {path}.{key}"
    for item in at_path(body, "$.results[].properties") + at_path(body, "$.properties"):
        assert all(v is None or isinstance(v, str) for v in item.values()), "HubSpot property values are strings"
