"""Schemathesis fuzzing of the HubSpot emulator (in-process ASGI) against its own OpenAPI document."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crmsync.emulators.hubspot import HubSpotConfig, HubSpotEmulator, create_app
from crmsync.emulators.hubspot.schema import OBJECT_TYPES, object_type

# Limits far above what the run sends, so 429s never mask the behaviour under test.
CONFIG = HubSpotConfig(ten_second_limit=10_000_000, daily_limit=100_000_000, search_per_second=10_000_000)
APP = create_app(CONFIG)
AUTH = {"Authorization": f"Bearer {CONFIG.private_app_token}"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

_vendor: HubSpotEmulator = APP.state.vendor
_vendor.seed(11, 200)
# Live ids per object type, fixed before the run: generated ids are steered onto them (deterministically, by a
# checksum of the generated value) so reads, writes, merges and associations also reach existing records.
POOL = {
    ot.name: [r.id for _, r in zip(range(40), _vendor.portal.collection(ot).scan(), strict=False)]
    for ot in OBJECT_TYPES
}
ALL_IDS = [object_id for ids in POOL.values() for object_id in ids]
ID_KEYS = ("id", "primaryObjectId", "objectIdToMerge")
# The coverage phase runs positive cases only: its negative half alone takes minutes; the fuzzing phase still
# sends negative (schema-violating) requests.
SETTINGS = schemathesis.Config.from_dict({"phases": {"coverage": {"generation": {"mode": "positive"}}}})

schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", APP, config=SETTINGS)


def _steer(value: str, ids: list[str]) -> str:
    """Two generated values in three become a live id; the rest stay as generated (unknown ids matter too)."""
    checksum = zlib.crc32(value.encode("utf-8", "surrogatepass"))
    if not ids or checksum % 3 == 0:
        return value
    return ids[checksum % len(ids)]


def _pool(type_name: Any) -> list[str]:
    ot = object_type(type_name) if isinstance(type_name, str) else None
    return POOL[ot.name] if ot is not None else []


def _steer_body(value: Any, ids: list[str], pools: dict[str, list[str]]) -> Any:
    """Ids under `from`/`to` come from the pair's own types; any other id from the operation's type."""
    if isinstance(value, list):
        return [_steer_body(item, ids, pools) for item in value]
    if isinstance(value, dict):
        steered = {}
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                steered[key] = _steer(item, ids)
            else:
                steered[key] = _steer_body(item, pools.get(key, ids), pools)
        return steered
    return value


@schema.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    params = case.path_parameters or {}
    pools = {"from": _pool(params.get("fromObjectType")), "to": _pool(params.get("toObjectType"))}
    for id_key, pool in (
        ("objectId", _pool(params.get("objectType"))),
        ("fromObjectId", pools["from"]),
        ("toObjectId", pools["to"]),
    ):
        if isinstance(params.get(id_key), str):
            params[id_key] = _steer(params[id_key], pool)
    if isinstance(case.body, dict | list):
        case.body = _steer_body(case.body, _pool(params.get("objectType")) or ALL_IDS, pools)
    return case


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=15, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
def test_emulator_conforms_to_its_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)
