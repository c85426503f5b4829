"""Docker's timestamps (RFC 3339 with nanoseconds, `Z` or an offset; `0001-01-01T00:00:00Z` for
never) as Python datetimes. `datetime.fromisoformat` before 3.11 takes neither nanoseconds nor `Z`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse(stamp: Optional[str]) -> Optional[dt.datetime]:
    """An aware datetime (UTC when no offset is given), or None for an empty or unreadable one."""
    match = _STAMP.match((stamp or "").strip())
    if match is None:
        return None
    head, fraction, zone = match.groups()
    text = head + (f".{fraction[:6]}" if fraction else "") + ("+00:00" if zone in (None, "Z") else zone)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.year > 1 else None


def epoch(stamp: Optional[str]) -> Optional[float]:
    """Epoch seconds, or None."""
    parsed = parse(stamp)
    return parsed.timestamp() if parsed is not None else None


def seconds_since(stamp: Optional[str], now: Optional[dt.datetime] = None) -> Optional[float]:
    """How long ago `stamp` was, or None when it cannot be read."""
    parsed = parse(stamp)
    if parsed is None:
        return None
    return ((now or dt.datetime.now(dt.timezone.utc)) - parsed).total_seconds()
