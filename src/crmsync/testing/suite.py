"""The registry of generic conformance cases, in the order they run."""

from __future__ import annotations

from crmsync.testing import cases_faults, cases_read, cases_write
from crmsync.testing.conformance import Case, CaseFunc, Transport

BOTH: tuple[Transport, ...] = ("asgi", "loopback")


def _case(func: CaseFunc, transports: tuple[Transport, ...] = ("asgi",)) -> Case:
    name = func.__name__
    doc = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
    return Case(name=name, func=func, transports=transports, doc=doc)


CASES: tuple[Case, ...] = (
    _case(cases_read.describe),
    _case(cases_read.full_read),
    _case(cases_read.incremental_read),
    _case(cases_read.incremental_read_deals),
    _case(cases_read.merges),
    _case(cases_read.merged_ids),
    _case(cases_read.shared_stamp_pages),
    _case(cases_read.resume_every_cursor),
    _case(cases_write.batch_partial_failure),
    _case(cases_write.partial_batch_fault),
    _case(cases_write.idempotent_recreate),
    _case(cases_write.links),
    _case(cases_write.token_expiry),
    _case(cases_faults.faults_5xx, BOTH),
    _case(cases_faults.faults_429, BOTH),
    _case(cases_faults.faults_latency, BOTH),
    _case(cases_faults.faults_drops, ("loopback",)),
    _case(cases_faults.limits_respected),
)
