"""Schemathesis fuzzing of the Dataverse emulator (in-process ASGI) against its own OpenAPI document."""

from __future__ import annotations

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

from crmsync.emulators.core.app import build_app
from crmsync.emulators.dynamics import DynamicsConfig, DynamicsEmulator

# Limits far above what the run sends, so 429s never mask the behaviour under test.
VENDOR = DynamicsEmulator(DynamicsConfig(requests_per_window=10_000_000, concurrent_requests=10_000))
APP = build_app(VENDOR)
TOKEN, _ = VENDOR.auth.issue_token("https://crmsync.crm.dynamics.com")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", APP)


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_emulator_conforms_to_its_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)
