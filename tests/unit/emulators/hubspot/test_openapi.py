"""The OpenAPI document: served by the control plane, valid, and listing exactly the routes the app serves."""

from __future__ import annotations

import re
from typing import Any

import httpx
import schemathesis
from starlette.applications import Starlette
from starlette.routing import Route

from crmsync.emulators.core.app import CONTROL_PREFIX
from crmsync.emulators.hubspot.openapi import build_openapi

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _shape(path: str) -> str:
    """Parameter names differ (`{object_type}` in routes, `{objectType}` in the document); positions must not."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def registered(app: Starlette) -> set[tuple[str, str]]:
    found = set()
    # The vendor's routes sit behind one RouteTable entry (anything with nested `.routes` is unfolded).
    flat = [inner for route in app.routes for inner in getattr(route, "routes", [route])]
    for route in flat:
        if not isinstance(route, Route) or route.path.startswith(CONTROL_PREFIX):
            continue
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET route
                found.add((method.lower(), _shape(route.path)))
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, _shape(path)) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }


async def test_document_is_served_by_the_control_plane(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{CONTROL_PREFIX}/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == build_openapi()
    assert r.json()["openapi"].startswith("3.1")


def test_every_registered_route_is_documented_and_nothing_else(app: Starlette) -> None:
    routes, document = registered(app), documented(build_openapi())
    assert routes - document == set(), "routes missing from the document"
    assert document - routes == set(), "documented operations the app does not serve"


def test_operation_ids_are_unique_and_every_operation_answers_429() -> None:
    document = build_openapi()
    operations = [op for item in document["paths"].values() for m, op in item.items() if m in HTTP_METHODS]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    limited = [op for op in operations if op.get("security") != []]
    assert all("429" in op["responses"] for op in limited)


def test_document_is_a_valid_openapi_31_document() -> None:
    schema = schemathesis.openapi.from_dict(build_openapi())
    schema.validate()
    assert len(list(schema.get_all_operations())) == len(documented(build_openapi()))


def test_every_reference_resolves() -> None:
    document = build_openapi()
    schemas = document["components"]["schemas"]
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    prefix = "#/components/schemas/"
    assert all(ref.startswith(prefix) for ref in refs)
    assert {ref.removeprefix(prefix) for ref in refs} <= set(schemas)
