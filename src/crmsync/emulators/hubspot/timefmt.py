"""HubSpot's timestamp formats: ISO-8601 UTC with milliseconds, ms epochs, and midnight-only dates."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

_DAY_MS = 86_400_000
# Years 1..9999: the instants an ISO-8601 stamp can show (larger epochs would crash or render as garbage).
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999


@lru_cache(maxsize=65_536)
def _second(seconds: int) -> str:
    t = time.gmtime(seconds)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def iso_ms(ms: int) -> str:
    """`2026-02-25T16:23:49.023Z`: how HubSpot renders createdAt/updatedAt and date-time stamps."""
    # Stamps cluster in few seconds (a page of records written together), so the second is cached:
    # this runs four times per record rendered.
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


def iso_value(ms: int) -> str:
    """A written datetime property value: milliseconds only when there are any (`2026-12-31T00:00:00Z`)."""
    if ms % 1000:
        return iso_ms(ms)
    t = time.gmtime(ms // 1000)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"


def date_value(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def parse_ms(value: str) -> int | None:
    """A ms epoch, an ISO date or an ISO date-time (naive = UTC) as ms since the epoch; None when neither."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        try:
            return int(text)
        except ValueError:  # pragma: no cover - isdigit() accepts some unicode digits int() refuses
            return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return int(parsed.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):
        return None


def representable(ms: int) -> bool:
    return MIN_MS <= ms <= MAX_MS


def is_midnight(ms: int) -> bool:
    return ms % _DAY_MS == 0


def clock_text(ms: int) -> str:
    """`9:20:0.0`: the unpadded time of day HubSpot quotes in its "not midnight" error."""
    rest = ms % _DAY_MS
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours}:{minutes}:{seconds}.{millis}"
