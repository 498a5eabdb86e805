"""Whether a client's office is open at an instant: weekly hours, public holidays, closures.

Pure (standard library, holidays, the event value types): every service's domain may use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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


MAX_DAYS_AHEAD = 400
"""How far ahead an opening is sought before the office counts as never open again."""


def opening_spans(hours: OfficeHours, day: date) -> list[tuple[datetime, datetime]]:
    """The day's opening spans as aware instants (none on a public holiday).

    Closures are not applied here; `next_opening` and `add_office_time` step around them.
    """
    if _holiday(hours, day) is not None:
        return []
    zone = _zone(hours.timezone)
    spans: tuple[OpeningSpan, ...] = getattr(hours.weekly, _WEEKDAYS[day.weekday()])
    return [
        (datetime.combine(day, span.opens, zone), datetime.combine(day, span.closes, zone))
        for span in spans
    ]


def _open_stretches(hours: OfficeHours, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open stretches from `after` on, in order: spans minus closures, clipped to `after`."""
    if after.tzinfo is None:
        raise ValueError("office hours are evaluated at a timezone-aware instant")
    first = after.astimezone(_zone(hours.timezone)).date()
    closures = sorted((c.starts_at, c.ends_at) for c in hours.closures)
    for offset in range(MAX_DAYS_AHEAD + 1):
        for opens, closes in opening_spans(hours, first + timedelta(days=offset)):
            start = max(opens, after)
            if closes <= start:
                continue
            yield from _minus(start, closes, closures)


def _minus(
    start: datetime, end: datetime, closures: list[tuple[datetime, datetime]]
) -> Iterator[tuple[datetime, datetime]]:
    for closed_from, closed_until in closures:
        if closed_until <= start or closed_from >= end:
            continue
        if closed_from > start:
            yield start, closed_from
        start = max(start, closed_until)
        if start >= end:
            return
    yield start, end


def next_opening(hours: OfficeHours, after: datetime) -> datetime | None:
    """The first instant at or after `after` at which the office is open; None if never.

    "Never" means not within MAX_DAYS_AHEAD days (an office with no opening hours at all).
    """
    return next((start for start, _ in _open_stretches(hours, after)), None)


def office_time_between(hours: OfficeHours, start: datetime, end: datetime) -> timedelta:
    """How much open office time lies between `start` and `end` (nothing if end <= start).

    From Friday 16:00 to Monday 11:30 with the default hours: 1 h on Friday, 3.5 h on Monday.
    """
    total = timedelta(0)
    if end <= start:
        return total
    for opens, closes in _open_stretches(hours, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def add_office_time(hours: OfficeHours, start: datetime, duration: timedelta) -> datetime | None:
    """The instant by which `duration` of open office time has passed since `start`.

    An agreed answer time of four office hours, from a mail that came in on Friday at 16:00,
    is due on Monday at 11:00 with the default hours. None if the office never opens again.
    """
    if duration < timedelta(0):
        raise ValueError("an office duration cannot be negative")
    left = duration
    for opens, closes in _open_stretches(hours, start):
        if closes - opens >= left:
            return opens + left
        left -= closes - opens
    return None
