"""Fault plans: matching, skip/times scripting, probability, duration on the emulator clock."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crmsync.emulators.core.clock import EmulatorClock
from crmsync.emulators.core.faults import FaultInjector, FaultPlan, FaultRule


def injector(*rules: FaultRule, seed: int = 0) -> FaultInjector:
    clock = EmulatorClock(now=lambda: 1_000.0)
    clock.freeze()
    faults = FaultInjector(clock)
    faults.set_plan(FaultPlan(rules=list(rules), seed=seed))
    return faults


def test_scripted_sequence_two_503_then_a_rate_limit_then_normal() -> None:
    faults = injector(
        FaultRule(kind="status", status=503, times=2, path="/query"),
        FaultRule(kind="rate_limit", skip=2, times=1, path="/query"),
    )
    kinds = [getattr(faults.decide("GET", "/services/data/v60.0/query"), "kind", None) for _ in range(5)]
    assert kinds == ["status", "status", "rate_limit", None, None]


def test_method_and_path_must_both_match() -> None:
    faults = injector(FaultRule(kind="drop", method="post", path="^/crm/v3/objects/contacts$"))
    assert faults.decide("GET", "/crm/v3/objects/contacts") is None
    assert faults.decide("POST", "/crm/v3/objects/companies") is None
    decision = faults.decide("POST", "/crm/v3/objects/contacts")
    assert decision is not None and decision.kind == "drop"


def test_probability_is_reproducible_for_a_seed() -> None:
    def run() -> list[bool]:
        faults = injector(FaultRule(kind="status", probability=0.3), seed=42)
        return [faults.decide("GET", "/x") is not None for _ in range(200)]

    first = run()
    assert first == run()
    assert 30 < sum(first) < 90


def test_duration_uses_emulator_time() -> None:
    faults = injector(FaultRule(kind="status", duration_s=600))
    assert faults.decide("GET", "/x") is not None
    faults.clock.advance(601_000)
    assert faults.decide("GET", "/x") is None


def test_invalid_rules_are_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        FaultRule(kind="status", path="(")
    with pytest.raises(ValidationError):
        FaultRule.model_validate({"kind": "explode"})
    with pytest.raises(ValidationError):
        FaultRule(kind="status", status=200)
