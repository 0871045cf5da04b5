"""crmsync's connector conformance suite, shipped so any connector/emulator pair can be held to it.

Implement a `ConformanceTarget` for your pair (see `crmsync.testing.targets` for the three built in),
then run every case with `conformance_params` (pytest) or `run_case` (anything else).
"""

from __future__ import annotations

from crmsync.testing.conformance import (
    ROLES,
    Case,
    ConformanceFailure,
    ConformanceTarget,
    ConnectorOptions,
    MergeOutcome,
    Role,
    Transport,
    cases_for,
    conformance_cases,
    run_case,
)
from crmsync.testing.rig import ReadResult, Rig, SleepRecorder, open_rig, read_all

__all__ = [
    "ROLES",
    "Case",
    "ConformanceFailure",
    "ConformanceTarget",
    "ConnectorOptions",
    "MergeOutcome",
    "ReadResult",
    "Rig",
    "Role",
    "SleepRecorder",
    "Transport",
    "cases_for",
    "conformance_cases",
    "open_rig",
    "read_all",
    "run_case",
]
