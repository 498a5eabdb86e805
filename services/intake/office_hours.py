"""Whether a client's office is open at an instant: weekly schedule, holidays and closures."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from libs.events import OfficeHours, OpeningSpan

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=32)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country.upper(), years=year))


def is_open(hours: OfficeHours, instant: datetime) -> bool:
    """True when the office is open at `instant` (closures and public holidays close it)."""
    if any(c.starts_at <= instant < c.ends_at for c in hours.closures):
        return False
    local = instant.astimezone(ZoneInfo(hours.timezone))
    if hours.public_holidays and local.date() in _public_holidays(
        hours.public_holidays, local.year
    ):
        return False
    spans: tuple[OpeningSpan, ...] = getattr(hours.weekly, _WEEKDAYS[local.weekday()])
    now = local.time().replace(tzinfo=None)
    return any(span.opens <= now < span.closes for span in spans)
