"""Fault plans: per-route latency, error statuses, rate limiting, dropped connections, expired tokens,
partial batch failures, and scripted sequences of them, applied before a request reaches its handler.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crmsync.emulators.core.clock import EmulatorClock

FaultKind = Literal["latency", "status", "rate_limit", "drop", "expire_token", "partial_batch"]


class FaultRule(BaseModel):
    """One rule: which requests it matches, what it does, and how often.

    Rules are tried in order; the first that matches and fires decides. `skip` lets that many
    matching requests through first and `times` caps how often it fires, so a list of rules is a
    scripted sequence ("two 503s, then a 429, then normal").
    """

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    method: str | None = Field(default=None, description="HTTP method to match; any when absent")
    path: str = Field(default=".*", description="regular expression searched in the request path")
    status: int = Field(default=503, ge=400, le=599)
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    retry_after_s: float | None = Field(default=None, ge=0)
    probability: float = Field(default=1.0, ge=0, le=1)
    skip: int = Field(default=0, ge=0)
    times: int | None = Field(default=None, ge=0)
    duration_s: float | None = Field(default=None, gt=0, description="active for this long (emulator time)")
    fail_share: float = Field(default=0.5, gt=0, le=1, description="partial_batch: share of items that fail")

    @field_validator("path")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[FaultRule] = Field(default_factory=list)
    seed: int = 0


@dataclass(slots=True)
class _RuleState:
    rule: FaultRule
    pattern: re.Pattern[str]
    started_ms: int
    matched: int = 0
    fired: int = 0


@dataclass(slots=True)
class FaultDecision:
    kind: FaultKind
    rule: FaultRule


@dataclass
class FaultInjector:
    """Holds the active plan and decides, per request, which fault (if any) applies."""

    clock: EmulatorClock
    _rules: list[_RuleState] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)
    plan: FaultPlan = field(default_factory=FaultPlan)
    _fired: asyncio.Event = field(default_factory=asyncio.Event)

    def set_plan(self, plan: FaultPlan) -> None:
        now = self.clock.now_ms()
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._rules = [_RuleState(rule, re.compile(rule.path), now) for rule in plan.rules]

    def clear(self) -> None:
        self.set_plan(FaultPlan())

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def decide(self, method: str, path: str) -> FaultDecision | None:
        """The first rule that fires wins; every matching rule counts the request toward its `skip`."""
        now = self.clock.now_ms()
        decision: FaultDecision | None = None
        for state in self._rules:
            rule = state.rule
            if rule.method is not None and rule.method.upper() != method:
                continue
            if not state.pattern.search(path):
                continue
            if rule.duration_s is not None and now - state.started_ms > rule.duration_s * 1000:
                continue
            state.matched += 1
            if decision is not None or state.matched <= rule.skip:
                continue
            if rule.times is not None and state.fired >= rule.times:
                continue
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            state.fired += 1
            decision = FaultDecision(rule.kind, rule)
        if decision is not None:
            self._fired.set()
        return decision

    @property
    def fired(self) -> int:
        """How often the current plan's rules fired, in all."""
        return sum(state.fired for state in self._rules)

    async def wait_fired(self, count: int) -> None:
        """Until the current plan's rules fired `count` times in all.

        A test that needs a client to be inside a fault (a slow read under way, a write held up) awaits this
        (`GET /_emulator/faults?fired=N`) instead of polling the report.
        """
        while self.fired < count:
            self._fired.clear()
            await self._fired.wait()

    def report(self) -> list[dict[str, object]]:
        return [
            {"rule": state.rule.model_dump(), "matched": state.matched, "fired": state.fired} for state in self._rules
        ]
