"""The OpenAPI document: served by the control plane, valid, and listing exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.routing import Route

from crmsync.emulators.core.app import CONTROL_PREFIX
from crmsync.emulators.salesforce import SalesforceConfig, create_app

METHODS = {"get", "post", "put", "patch", "delete"}


def _served_operations(app: Starlette) -> set[tuple[str, str]]:
    """(path, method) of every vendor route; trailing-slash twins and `:path` convertors fold into one path."""
    out: set[tuple[str, str]] = set()
    # The vendor's routes sit behind one dispatching route (salesforce/dispatch.py): look inside it.
    for route in (inner for outer in app.routes for inner in getattr(outer, "routes", [outer])):
        if not isinstance(route, Route) or route.path.startswith(CONTROL_PREFIX):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path).rstrip("/")
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET route
                out.add((path, method.lower()))
    return out


def _documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_emulator/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


async def test_document_is_served_and_lists_every_route(client: httpx.AsyncClient, app: Starlette) -> None:
    document = await _document(client)
    assert document["openapi"] == "3.1.0"
    assert _documented_operations(document) == _served_operations(app)


async def test_document_is_a_valid_openapi_schema(client: httpx.AsyncClient) -> None:
    schemathesis.openapi.from_dict(await _document(client)).validate()


async def test_every_path_parameter_is_declared(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    shared = document["components"]["parameters"]
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            declared = set()
            for param in operation.get("parameters", []):
                resolved = shared[param["$ref"].rsplit("/", 1)[-1]] if "$ref" in param else param
                if resolved["in"] == "path":
                    declared.add(resolved["name"])
            assert declared == in_path, f"{method.upper()} {path}"


async def test_operation_ids_are_unique(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == 28


@pytest.mark.parametrize(
    ("version", "accepted"),
    [("v20.0", True), ("v45.5", True), ("v67.0", True), ("v19.9", False), ("v67.1", False), ("v60", False)],
)
async def test_version_pattern_matches_what_the_emulator_accepts(
    client: httpx.AsyncClient, auth: dict[str, str], version: str, accepted: bool
) -> None:
    document = await _document(client)
    pattern = document["components"]["parameters"]["Version"]["schema"]["pattern"]
    assert (re.search(pattern, version) is not None) is accepted
    response = await client.get(f"/services/data/{version}/limits", headers=auth)
    assert (response.status_code == 200) is accepted


async def test_document_follows_the_configuration() -> None:
    app = create_app(SalesforceConfig(min_api_version=50.5, max_api_version=52.0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://sf.test") as http:
        document = await _document(http)
    parameters = document["components"]["parameters"]
    assert parameters["Version"]["schema"]["pattern"] == r"^v(50\.[5-9]|51\.[0-9]|52\.0)$"
    assert "OpportunityContactRole" in parameters["SObject"]["schema"]["enum"]
