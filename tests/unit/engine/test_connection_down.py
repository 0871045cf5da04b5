"""A batch takes its CRM for down only when every write failed retryably at the call, never for records' own errors."""

from __future__ import annotations

from crmsync.connectors.base import ErrorClass, ErrorScope, WriteError, WriteResult
from crmsync.engine import call_failures


def _failed(ref: str, classification: ErrorClass, scope: ErrorScope, code: str = "E") -> WriteResult:
    return WriteResult(ref, False, error=WriteError(classification, code, f"{code} for {ref}", scope=scope))


def test_every_write_failing_retryably_at_the_call_is_an_outage() -> None:
    results = [_failed("a", "retryable", "call", "TransientError"), _failed("b", "retryable", "call")]
    down = call_failures.connection_down(results)
    assert down is not None and "TransientError: TransientError for a" in down


def test_a_lone_write_locked_by_the_crm_is_not_an_outage() -> None:
    """The defect: one update meeting UNABLE_TO_LOCK_ROW looked like a CRM down, so it never spent an attempt."""
    assert call_failures.connection_down([_failed("a", "retryable", "record", "UNABLE_TO_LOCK_ROW")]) is None


def test_a_batch_whose_every_record_is_locked_is_not_an_outage() -> None:
    results = [_failed(ref, "retryable", "record", "UNABLE_TO_LOCK_ROW") for ref in "abc"]
    assert call_failures.connection_down(results) is None


def test_call_failures_beside_a_record_failure_are_not_an_outage() -> None:
    """The CRM answered one of the calls (it reported a record's lock): it is up."""
    results = [_failed("a", "retryable", "call"), _failed("b", "retryable", "record", "UNABLE_TO_LOCK_ROW")]
    assert call_failures.connection_down(results) is None


def test_a_landed_or_final_failure_is_not_an_outage() -> None:
    landed = WriteResult("b", True, "id-b")
    assert call_failures.connection_down([_failed("a", "retryable", "call"), landed]) is None
    assert call_failures.connection_down([_failed("a", "retryable", "call"), _failed("b", "invalid", "call")]) is None
    assert call_failures.connection_down([]) is None


def test_an_error_that_does_not_say_is_the_calls() -> None:
    """The cautious default (a test double, a connector not yet scoping): an outage must never spend attempts."""
    assert WriteError("retryable", "E", "m").scope == "call"
    assert call_failures.connection_down([WriteResult("a", False, error=WriteError("retryable", "E", "m"))]) is not None


def test_only_a_retryable_failure_of_the_call_is_the_calls() -> None:
    """What goes back unspent in a batch the CRM partly answered (and in the counterparts of a merge)."""
    assert call_failures.call_failure(_failed("a", "retryable", "call", "TransientError")) is not None
    assert call_failures.call_failure(_failed("a", "retryable", "record", "UNABLE_TO_LOCK_ROW")) is None
    assert call_failures.call_failure(_failed("a", "invalid", "record")) is None
    assert call_failures.call_failure(_failed("a", "fatal", "call", "UNKNOWN_OUTCOME")) is None
    assert call_failures.call_failure(WriteResult("a", True, "id-a")) is None
    assert call_failures.call_failure(None) is None
