"""`crmsync errors retry` over thousands of errors says how many, not a line for each."""

from __future__ import annotations

from rich.console import Console

from crmsync.cli.errors import RETRY_LINES, render_retry
from crmsync.engine.retrying import NotRetried, Requeued, RetryOutcome


def test_a_retry_of_many_lists_the_first_and_counts_the_rest() -> None:
    requeued = tuple(Requeued("sync_error", n, "write:contact:hs", f"hs/c{n}", 1) for n in range(1, 1838))
    skipped = tuple(NotRetried("sync_error", n, "its record is gone") for n in range(5000, 5025))
    out = Console(width=400, record=True)
    render_retry(out, RetryOutcome(requeued, skipped, reads=12))
    lines = out.export_text().splitlines()
    assert len(lines) == 2 * RETRY_LINES + 3
    assert lines[0] == "re-queued E1: write:contact:hs hs/c1"
    assert lines[RETRY_LINES] == f"… and {1837 - RETRY_LINES:,} more re-queued"
    assert lines[2 * RETRY_LINES + 1] == f"… and {25 - RETRY_LINES} more not retried"
    assert lines[-1].startswith("1837 items re-queued, and 12 reads of the records from their CRMs;")
