"""How the dashboard words the age of a stamp, a CRM's stamp from a clock running ahead included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmsync.dashboard.pages import show_age


def test_past_stamps_read_as_ages() -> None:
    now = datetime.now(UTC)
    assert show_age(now - timedelta(minutes=10)) == "10 min ago"
    assert show_age(now - timedelta(hours=5)) == "5 h ago"
    assert show_age(now - timedelta(days=3)) == "3 days ago"
    assert show_age(None) == "—"


def test_a_stamp_ahead_of_this_clock_says_so_instead_of_zero_seconds() -> None:
    assert show_age(datetime.now(UTC) + timedelta(minutes=1)) == "ahead of this machine's clock"
