"""Salesforce value formats: `2026-05-01T07:25:37.000+0000` datetimes, ISO dates, and their parsing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@lru_cache(maxsize=65_536)
def _second(seconds: int) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    # %Y does not pad years before 1000 on glibc ("1-01-01"), which nothing could parse back
    return f"{moment.year:04d}{moment:-%m-%dT%H:%M:%S}"


_FORMATTED: dict[int, str] = {}
_FORMATTED_MAX = 65_536


def format_ms(ms: int) -> str:
    """The datetime rendering every Salesforce REST response uses (UTC, millis, `+0000`)."""
    # Cached: this runs for every stamp of every record rendered, and stamps cluster (they are whole seconds,
    # and a seeded org holds a million records stamped within a minute). Cleared rather than evicted when full.
    text = _FORMATTED.get(ms)
    if text is None:
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        text = _FORMATTED[ms] = f"{_second(ms // 1000)}.{ms % 1000:03d}+0000"
    return text


def format_dt(moment: datetime) -> str:
    return format_ms(to_ms(moment))


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_datetime(text: str) -> datetime | None:
    """ISO-8601 as Salesforce accepts it in JSON bodies and query parameters (offset or Z; none means UTC)."""
    match = _DATETIME.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        try:
            moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
            return None
    return moment


def parse_date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def normalize_datetime(text: str) -> str | None:
    moment = parse_datetime(text)
    return None if moment is None else format_dt(moment)


def date_of_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()
