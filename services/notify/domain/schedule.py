"""Local days, digest moments and the next working day, in the client's office timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.events.values import OfficeHours, OpeningSpan
from libs.office_hours import DEFAULT_ZONE, office_open

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400
"""How far ahead the next opening is looked for; an office closed longer has none."""


def zone(hours: OfficeHours) -> ZoneInfo:
    """The client's timezone: the one of its office hours."""
    return zone_named(hours.timezone)


def zone_named(name: str) -> ZoneInfo:
    """A timezone by name (Europe/Amsterdam when intake let an unknown one through)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_day(at: datetime, hours: OfficeHours) -> date:
    """The calendar day an instant falls on, in the client's timezone."""
    return at.astimezone(zone(hours)).date()


def at_local(day: date, wall_clock: time, hours: OfficeHours) -> datetime:
    """The UTC instant of a wall-clock time on a local day."""
    return datetime.combine(day, wall_clock, zone(hours)).astimezone(UTC)


def day_bounds(day: date, hours: OfficeHours) -> tuple[datetime, datetime]:
    """The local day as a half-open UTC interval [start, end)."""
    return at_local(day, time(0), hours), at_local(day + timedelta(days=1), time(0), hours)


def next_opening(hours: OfficeHours, after: datetime) -> datetime | None:
    """The first instant after `after` at which the office opens (None: not within a year)."""
    candidates = [c for c in _closure_ends(hours, after) if office_open(hours, c)]
    start = local_day(after, hours)
    for offset in range(HORIZON_DAYS):
        day = start + timedelta(days=offset)
        for span in _spans(hours, day):
            opens = at_local(day, span.opens, hours)
            if opens > after and office_open(hours, opens):
                return min([opens, *candidates])
    return min(candidates, default=None)


def _spans(hours: OfficeHours, day: date) -> tuple[OpeningSpan, ...]:
    spans: tuple[OpeningSpan, ...] = getattr(hours.weekly, WEEKDAYS[day.weekday()])
    return spans


def _closure_ends(hours: OfficeHours, after: datetime) -> list[datetime]:
    """Ends of closures after `after`: the office may reopen in the middle of a span."""
    return [c.ends_at for c in hours.closures if c.ends_at > after]
