"""Calendar months and days in Europe/Amsterdam, where invoices live; instants stay UTC."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_date(instant: datetime) -> date:
    """The Amsterdam calendar day of an instant."""
    return instant.astimezone(AMSTERDAM).date()


def period_of(instant: datetime) -> str:
    """The Amsterdam calendar month ("YYYY-MM") an instant falls in."""
    return period_of_day(local_date(instant))


def period_of_day(day: date) -> str:
    """The month ("YYYY-MM") of a calendar day."""
    return f"{day.year:04d}-{day.month:02d}"


def first_day(period: str) -> date:
    """The first day of a month."""
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def month_days(period: str) -> int:
    """How many days a month has."""
    start = first_day(period)
    return calendar.monthrange(start.year, start.month)[1]


def last_day(period: str) -> date:
    """The last day of a month."""
    return first_day(period) + timedelta(days=month_days(period) - 1)


def next_period(period: str) -> str:
    """The month after."""
    return period_of_day(last_day(period) + timedelta(days=1))


def periods_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (empty when first > last)."""
    found: list[str] = []
    current = first
    while current <= last:
        found.append(current)
        current = next_period(current)
    return found


def start_of_day(day: date) -> datetime:
    """The UTC instant at which an Amsterdam day begins."""
    return datetime.combine(day, time(0), AMSTERDAM).astimezone(UTC)


def period_has_ended(period: str, now: datetime) -> bool:
    """Whether the whole month lies before `now`."""
    return start_of_day(last_day(period) + timedelta(days=1)) <= now
