"""Dates and datetimes: every vendor spelling (ISO, `+0000`, ms epochs, local times) ↔ `date` / aware UTC `datetime`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmsync.mapping.problems import TransformError
from crmsync.mapping.transform import Scalar, blank
from crmsync.model.values import CanonicalValue

DateOutput = Literal["date", "datetime", "epoch_ms"]
DatetimeOutput = Literal["iso", "salesforce", "epoch_ms"]


def zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin") from exc


def parse_datetime(value: Any, local: tzinfo) -> datetime:
    """An aware UTC datetime with millisecond precision; a naive value is read in `local`."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), local)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        else:
            try:
                # Python 3.11 reads `Z`, `+0000` and `+00:00` offsets alike.
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise TransformError(f"{value!r} is not a date-time") from exc
    else:
        raise TransformError(f"{value!r} is not a date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    moment = moment.astimezone(UTC)
    # Vendors keep milliseconds at most: finer digits would differ on every read-back.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_date(value: Any, local: tzinfo) -> date:
    """A calendar date; a date-time is the day it falls on in `local` (a due date typed in Berlin stays that day)."""
    if isinstance(value, datetime):
        return parse_datetime(value, local).astimezone(local).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise TransformError(f"{value!r} is not a date") from exc
    return parse_datetime(value, local).astimezone(local).date()


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def format_datetime(moment: datetime, output: DatetimeOutput) -> Any:
    moment = moment.astimezone(UTC)
    if output == "epoch_ms":
        return _ms(moment)
    millis = f"{moment.microsecond // 1000:03d}"
    if output == "salesforce":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "+0000"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + millis + "Z"


def date_transform(timezone: str = "UTC", output: DateOutput = "date") -> Scalar:
    local = zone(timezone)

    def inbound(value: Any) -> CanonicalValue:
        return None if blank(value) else parse_date(value, local)

    def outbound(value: CanonicalValue) -> Any:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TransformError(f"{value!r} is not a date")
        if output == "date":
            return value.isoformat()
        # Date-only HubSpot properties want midnight UTC; other zones get their own midnight.
        midnight = datetime.combine(value, time(), local)
        return format_datetime(midnight, "iso") if output == "datetime" else _ms(midnight)

    return Scalar("date", inbound, outbound)


def datetime_transform(timezone: str = "UTC", output: DatetimeOutput = "iso") -> Scalar:
    local = zone(timezone)

    def inbound(value: Any) -> CanonicalValue:
        return None if blank(value) else parse_datetime(value, local)

    def outbound(value: CanonicalValue) -> Any:
        if not isinstance(value, datetime):
            raise TransformError(f"{value!r} is not a date-time")
        return format_datetime(value, output)

    return Scalar("datetime", inbound, outbound)
