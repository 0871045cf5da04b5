"""How `crmsync status` words the age of a stamp, including one from a CRM whose clock runs ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crmsync.cli.status import age, show_time

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(seconds=0), "0s ago"),
        (timedelta(seconds=59), "59s ago"),
        (timedelta(minutes=5, seconds=3), "5m ago"),
        (timedelta(hours=2, minutes=1), "2h ago"),
        (timedelta(days=3, hours=4), "3d ago"),
        (timedelta(seconds=-42), "42s ahead of this machine's clock"),
        (timedelta(minutes=-1), "1m ahead of this machine's clock"),
    ],
)
def test_age_words_the_distance_either_way(offset: timedelta, expected: str) -> None:
    assert age(NOW - offset, NOW) == expected


def test_show_time_is_utc_to_the_second_with_the_age() -> None:
    local = (NOW - timedelta(seconds=90)).astimezone(timezone(timedelta(hours=2)))
    assert show_time(local, NOW) == "2026-11-28 11:58:30Z (1m ago)"
    assert show_time(None, NOW) == "—"
