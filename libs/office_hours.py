"""Whether a client's office is open at an instant: weekly hours, public holidays, closures.

Pure (standard library, holidays, the event value types): every service's domain may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from libs.events.values import OfficeHours, OpeningSpan

DEFAULT_ZONE = "Europe/Amsterdam"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OfficeStatus:
    """Open or closed, and why (for the operator's screen)."""

    open: bool
    reason: str


def office_status(hours: OfficeHours, at: datetime) -> OfficeStatus:
    """The office state at an aware instant: closures, then holidays, then the weekly hours."""
    if at.tzinfo is None:
        raise ValueError("office hours are evaluated at a timezone-aware instant")
    for closure in hours.closures:
        if closure.starts_at <= at < closure.ends_at:
            return OfficeStatus(False, f"closed: {closure.reason or 'temporary closure'}")
    local = at.astimezone(_zone(hours.timezone))
    holiday = _holiday(hours, local.date())
    if holiday is not None:
        return OfficeStatus(False, f"closed: public holiday ({holiday})")
    spans: tuple[OpeningSpan, ...] = getattr(hours.weekly, _WEEKDAYS[local.weekday()])
    wall_clock = local.time().replace(tzinfo=None)
    if any(span.opens <= wall_clock < span.closes for span in spans):
        return OfficeStatus(True, "open")
    return OfficeStatus(False, "closed: outside office hours")


def office_open(hours: OfficeHours, at: datetime) -> bool:
    """True when the office is open at the instant."""
    return office_status(hours, at).open


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Intake validates the zone; an unknown one must not stop calls being taken.
        return ZoneInfo(DEFAULT_ZONE)


def _holiday(hours: OfficeHours, day: date) -> str | None:
    if hours.public_holidays != "nl":
        return None
    return dutch_public_holidays(day.year).get(day)


@lru_cache(maxsize=32)
def dutch_public_holidays(year: int) -> dict[date, str]:
    """The Dutch public holidays of a year, by date."""
    return dict(holidays.country_holidays("NL", years=year).items())
