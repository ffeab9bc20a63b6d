"""Time helpers: millisecond epochs, CloudTrail timestamps and local-time arithmetic."""

from __future__ import annotations

import time

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


_ISO_CACHE: dict[int, str] = {}


def iso(ms: int) -> str:
    """Format an epoch-ms value as CloudTrail eventTime (YYYY-MM-DDTHH:MM:SSZ)."""
    minute = ms // MINUTE
    head = _ISO_CACHE.get(minute)
    if head is None:
        if len(_ISO_CACHE) > 200_000:
            _ISO_CACHE.clear()
        head = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        _ISO_CACHE[minute] = head
    return f"{head}{(ms // SECOND) % 60:02d}Z"


def aws_date(ms: int) -> str:
    """Format like 'Jul 10, 2023, 1:28:26 PM' as used in some responseElements."""
    t = time.gmtime(ms // SECOND)
    hour = t.tm_hour % 12 or 12
    ampm = "AM" if t.tm_hour < 12 else "PM"
    clock = f"{hour}:{t.tm_min:02d}:{t.tm_sec:02d} {ampm}"
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday}, {t.tm_year}, {clock}"


def local_hour(ms: int, tz_hours: float) -> float:
    """Return the local hour of day (0..24) at the given UTC offset."""
    return ((ms / HOUR) + tz_hours) % 24.0


def local_weekday(ms: int, tz_hours: float) -> int:
    """Return the local weekday (Monday=0) at the given UTC offset."""
    local_ms = ms + int(tz_hours * HOUR)
    return int((local_ms // DAY + 3) % 7)


def local_midnight(ms: int, tz_hours: float) -> int:
    """Return the UTC epoch-ms of the local midnight that starts the local day containing ms."""
    off = int(tz_hours * HOUR)
    return ((ms + off) // DAY) * DAY - off


def at_local(day_midnight: int, hour: float) -> int:
    """Return epoch-ms for a local hour offset from a local midnight."""
    return day_midnight + int(hour * HOUR)
