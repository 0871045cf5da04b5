"""Schemathesis fuzzing of the Salesforce emulator (in-process ASGI) against its own OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crmsync.emulators.core.app import build_app
from crmsync.emulators.salesforce import CustomField, SalesforceConfig, SalesforceVendor

# A daily allocation far above what the run sends, so 403 REQUEST_LIMIT_EXCEEDED never masks behaviour.
CONFIG = SalesforceConfig(
    daily_api_limit=100_000_000,
    custom_fields={"Account": [CustomField(name="Ext_Id__c", external_id=True, unique=True, length=40)]},
)
VENDOR = SalesforceVendor(CONFIG)
APP = build_app(VENDOR)
AUTH = {"Authorization": f"Bearer {CONFIG.static_session_token}"}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]

# A small seeded world, so generated reads and writes also reach real records.
VENDOR.seed(7, 40)
KNOWN: list[tuple[str, str]] = [
    (name, record.id)
    for name in ("Account", "Contact", "Opportunity", "Task", "Event", "OpportunityContactRole", "User")
    for record in list(VENDOR.org.coll(name).scan())[:5]
]

schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", APP)


def _aim_at_known(params: Any, known: tuple[str, str]) -> Any:
    """Point a generated record path at a seeded record (left alone when the operation has no such path)."""
    if not isinstance(params, dict):
        return params
    sobject, record_id = known
    if "record_id" in params:
        return {**params, "sobject": sobject, "record_id": record_id}
    if "field" in params and "value" in params:
        return {**params, "sobject": sobject, "field": "Id", "value": record_id}
    return params


@schema.hook
def before_generate_path_parameters(context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]) -> Any:
    # Known records first: Hypothesis favours the first branch of one_of, and generated ids rarely exist.
    return st.one_of(st.builds(_aim_at_known, strategy, st.sampled_from(KNOWN)), strategy)


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_emulator_conforms_to_its_document(case: schemathesis.Case[Any]) -> None:
    # The SOAP API answers every call it refuses whole with a fault, which SOAP 1.1 sends as HTTP 500.
    checks = (
        [c for c in CHECKS if c is not not_a_server_error]
        if case.operation.path.startswith("/services/Soap")
        else CHECKS
    )
    case.call_and_validate(headers=AUTH, checks=checks)
