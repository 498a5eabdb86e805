"""A simulation clock private to one test: its own database, so no other test moves it.

The session's processes share one PostgreSQL server; the default shared clock lives in its
main database, where any test in the session may move it (and a clock never goes back).
A test that scripts a month gives its processes `FRONTDESK_CLOCK_DATABASE_URL` from here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg

from libs.events import OfficeHours
from libs.events.values import OpeningSpan, WeeklySchedule
from libs.office_hours import office_open
from libs.platform.clock import ensure_clock_table, set_clock

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def private_clock(dsn: str, database: str, start: datetime) -> str:
    """Create `database` holding a clock set to `start`; its DSN."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    clock_dsn = urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))
    conn = await asyncpg.connect(clock_dsn)
    try:
        await ensure_clock_table(conn)
        await set_clock(conn, start)
    finally:
        await conn.close()
    return clock_dsn


def working_day(after: date, *, days_ahead: int = 7) -> date:
    """The first day `days_ahead` or more after `after` on which a default office is open."""
    day = after + timedelta(days=days_ahead)
    while not office_open(OfficeHours(), amsterdam(day, 12)):
        day += timedelta(days=1)
    return day


def amsterdam(day: date, hour: int, minute: int = 0) -> datetime:
    """An Amsterdam wall-clock time on a day, as an aware datetime."""
    return datetime.combine(day, time(hour, minute), AMSTERDAM)


def first_of_next_month(day: date) -> date:
    """The first day of the month after the one `day` is in."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def working_weekend(hours: OfficeHours) -> tuple[date, date]:
    """A Friday a week or more ahead (simulated clocks only move forward) whose Monday is a
    working day of `hours` too: no public holiday on either."""
    day = date.today() + timedelta(days=7)
    while True:
        monday = day + timedelta(days=3)
        friday_open = office_open(hours, amsterdam(day, 10))
        if day.weekday() == 4 and friday_open and office_open(hours, amsterdam(monday, 10)):
            return day, monday
        day += timedelta(days=1)


def weekday_hours(opens: int, closes: int) -> OfficeHours:
    """Office hours from `opens` to `closes` o'clock, Monday to Friday, Dutch holidays off."""
    span = (OpeningSpan(opens=time(opens), closes=time(closes)),)
    days = ("mon", "tue", "wed", "thu", "fri")
    return OfficeHours(weekly=WeeklySchedule(**dict.fromkeys(days, span)))
