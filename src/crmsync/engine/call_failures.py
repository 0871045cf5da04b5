"""Which failed writes are the call's, not the record's: their jobs go back without spending an attempt.

A connector reports a failed call inside `apply` as failed results (a 503 or 429 on a vendor batch, after
its own retries), scoped `call` (`WriteError.scope`). Such a failure says nothing of the records it carried:
spending their attempts would let an outage of any length dead-letter them. A retryable error the CRM
reported for a record (a row lock) is that record's and spends one. Delivery and the counterpart jobs of a
vendor merge (S14) decide alike, here.
"""

from __future__ import annotations

from collections.abc import Sequence

from crmsync.connectors.base import WriteError, WriteResult


def call_failure(result: WriteResult | None) -> WriteError | None:
    """The error of a write that failed retryably at the call (the CRM down or throttling that call), else None."""
    if result is None or result.ok or result.error is None:
        return None
    error = result.error
    return error if error.retryable and error.scope == "call" else None


def connection_down(results: Sequence[WriteResult]) -> str | None:
    """The error when every write of a batch failed retryably at the call: the CRM is down or throttling.

    Such a batch spends no attempt (an outage of any length must not dead-letter it), and the run stops
    writing to the connection. A retryable error the CRM reported for a record (a row lock in an answered
    call) is that record's, however many of the batch met one (a batch of one write, say): it spends an
    attempt, so a lock that never clears ends as a dead letter with the vendor's words instead of a CRM taken
    for down at every run. A batch where some calls failed and others were answered is not down either: only
    the failed calls' writes go back unspent (`call_failure`).
    """
    if not results or any(call_failure(r) is None for r in results):
        return None
    error = results[0].error
    assert error is not None
    return f"every write of a batch failed, the CRM is unavailable: {error.code}: {error.message}"


__all__ = ["call_failure", "connection_down"]
