"""Office hours, a pure function: weekly hours, Dutch public holidays, closures, DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.events import Closure, OfficeHours, OpeningSpan, WeeklySchedule
from libs.office_hours import (
    add_office_time,
    next_opening,
    office_open,
    office_status,
    office_time_between,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DEFAULT = OfficeHours()


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """An Amsterdam wall-clock time as an aware instant."""
    return datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM)


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        (local(2026, 1, 5, 10, 0), True),  # Monday morning
        (local(2026, 1, 5, 8, 0), True),  # opening time is inside
        (local(2026, 1, 5, 7, 59), False),
        (local(2026, 1, 5, 16, 59), True),
        (local(2026, 1, 5, 17, 0), False),  # closing time is outside
        (local(2026, 1, 7, 17, 30), False),  # Wednesday evening
        (local(2026, 1, 10, 10, 0), False),  # Saturday
        (local(2026, 1, 11, 10, 0), False),  # Sunday
    ],
)
def test_default_hours_are_monday_to_friday_eight_to_five(instant: datetime, is_open: bool) -> None:
    assert office_open(DEFAULT, instant) is is_open


@pytest.mark.parametrize(
    ("instant", "holiday"),
    [
        (local(2026, 4, 27, 10, 0), "King's Day"),  # a Monday
        (local(2026, 12, 25, 10, 0), "Christmas Day"),  # a Friday
        (local(2026, 12, 26, 10, 0), "Second Day of Christmas"),
        (local(2026, 1, 1, 10, 0), "New Year's Day"),
        (local(2026, 4, 6, 10, 0), "Easter Monday"),
        (local(2026, 5, 14, 10, 0), "Ascension Day"),
    ],
)
def test_dutch_public_holidays_are_closed(instant: datetime, holiday: str) -> None:
    status = office_status(DEFAULT, instant)
    assert (status.open, status.reason) == (False, f"closed: public holiday ({holiday})")


def test_the_day_after_kings_day_is_a_working_day() -> None:
    assert office_open(DEFAULT, local(2026, 4, 28, 10, 0))


def test_holidays_can_be_switched_off() -> None:
    assert office_open(OfficeHours(public_holidays=None), local(2026, 4, 27, 10, 0))


@pytest.mark.parametrize(
    ("instant", "is_open"),
    [
        # Spring forward on Sunday 29 March 2026: Monday 08:30 is 06:30 UTC, Friday's was 07:30.
        (datetime(2026, 3, 27, 6, 30, tzinfo=UTC), False),  # Friday 07:30 CET
        (datetime(2026, 3, 30, 6, 30, tzinfo=UTC), True),  # Monday 08:30 CEST
        (datetime(2026, 3, 27, 15, 30, tzinfo=UTC), True),  # Friday 16:30 CET
        (datetime(2026, 3, 30, 15, 30, tzinfo=UTC), False),  # Monday 17:30 CEST
        # Fall back on Sunday 25 October 2026.
        (datetime(2026, 10, 23, 15, 30, tzinfo=UTC), False),  # Friday 17:30 CEST
        (datetime(2026, 10, 26, 15, 30, tzinfo=UTC), True),  # Monday 16:30 CET
        (datetime(2026, 10, 23, 6, 30, tzinfo=UTC), True),  # Friday 08:30 CEST
        (datetime(2026, 10, 26, 6, 30, tzinfo=UTC), False),  # Monday 07:30 CET
    ],
)
def test_hours_are_wall_clock_hours_across_dst_changes(instant: datetime, is_open: bool) -> None:
    assert office_open(DEFAULT, instant) is is_open


def test_a_closure_closes_the_office_until_it_ends() -> None:
    starts = local(2026, 2, 16, 12, 0)
    hours = OfficeHours(
        closures=(Closure(starts_at=starts, ends_at=starts + timedelta(days=1), reason="Carnaval"),)
    )
    assert office_open(hours, starts - timedelta(minutes=1))
    assert office_status(hours, starts).reason == "closed: Carnaval"
    assert not office_open(hours, local(2026, 2, 17, 11, 59))
    assert office_open(hours, local(2026, 2, 17, 12, 0))


def test_a_client_schedule_with_a_lunch_break_and_saturday_morning() -> None:
    morning = OpeningSpan(opens=time(9), closes=time(12))
    afternoon = OpeningSpan(opens=time(13), closes=time(17, 30))
    weekly = WeeklySchedule(mon=(morning, afternoon), sat=(morning,))
    hours = OfficeHours(weekly=weekly)
    assert office_open(hours, local(2026, 1, 5, 11, 0))
    assert not office_open(hours, local(2026, 1, 5, 12, 30))
    assert office_open(hours, local(2026, 1, 5, 17, 15))
    assert office_open(hours, local(2026, 1, 10, 10, 0))


def test_hours_in_another_timezone() -> None:
    london = OfficeHours(timezone="Europe/London", public_holidays=None)
    assert office_open(london, datetime(2026, 1, 5, 8, 30, tzinfo=UTC))  # 08:30 in London
    assert not office_open(DEFAULT, datetime(2026, 1, 5, 16, 30, tzinfo=UTC))  # 17:30 here


def test_an_unknown_timezone_falls_back_to_amsterdam() -> None:
    hours = OfficeHours(timezone="Mars/Olympus_Mons")
    assert office_open(hours, local(2026, 1, 5, 10, 0))
    assert not office_open(hours, local(2026, 1, 5, 7, 0))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        office_open(DEFAULT, datetime(2026, 1, 5, 10, 0))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_default_hours_are_open_exactly_on_working_days_from_eight_to_five(
    naive: datetime,
) -> None:
    instant = naive.replace(tzinfo=UTC)
    wall = instant.astimezone(AMSTERDAM)
    expected = wall.weekday() < 5 and time(8) <= wall.time() < time(17)
    assert office_open(OfficeHours(public_holidays=None), instant) is expected


# next opening and office time


def test_the_next_opening_after_friday_evening_is_monday_morning() -> None:
    friday_21 = local(2026, 1, 9, 21, 0)
    assert next_opening(DEFAULT, friday_21) == local(2026, 1, 12, 8, 0)


def test_an_open_office_opens_at_once() -> None:
    monday_10 = local(2026, 1, 5, 10, 17)
    assert next_opening(DEFAULT, monday_10) == monday_10


def test_the_next_opening_skips_public_holidays_and_closures() -> None:
    christmas_eve_evening = local(2025, 12, 24, 18, 0)  # 25 and 26 December are holidays
    assert next_opening(DEFAULT, christmas_eve_evening) == local(2025, 12, 29, 8, 0)
    outing = Closure(
        starts_at=local(2026, 1, 12, 8, 0), ends_at=local(2026, 1, 12, 13, 0), reason="outing"
    )
    hours = OfficeHours(closures=(outing,))
    assert next_opening(hours, local(2026, 1, 9, 21, 0)) == local(2026, 1, 12, 13, 0)


def test_an_office_that_never_opens_has_no_next_opening() -> None:
    never = OfficeHours(weekly=WeeklySchedule(mon=(), tue=(), wed=(), thu=(), fri=()))
    assert next_opening(never, local(2026, 1, 5, 10, 0)) is None
    assert add_office_time(never, local(2026, 1, 5, 10, 0), timedelta(hours=1)) is None


def test_office_time_runs_only_while_the_office_is_open() -> None:
    friday_16 = local(2026, 1, 9, 16, 0)
    assert add_office_time(DEFAULT, friday_16, timedelta(hours=4)) == local(2026, 1, 12, 11, 0)
    assert add_office_time(DEFAULT, friday_16, timedelta(0)) == friday_16
    lunch = OfficeHours(
        weekly=WeeklySchedule(
            mon=(
                OpeningSpan(opens=time(9), closes=time(12)),
                OpeningSpan(opens=time(13), closes=time(17)),
            )
        )
    )
    assert add_office_time(lunch, local(2026, 1, 5, 11, 0), timedelta(hours=2)) == local(
        2026, 1, 5, 14, 0
    )
    with pytest.raises(ValueError, match="negative"):
        add_office_time(DEFAULT, friday_16, timedelta(seconds=-1))


def test_office_time_across_the_change_to_summer_time() -> None:
    friday_before = local(2026, 3, 27, 16, 0)  # clocks go forward on Sunday 29 March
    due = add_office_time(DEFAULT, friday_before, timedelta(hours=2))
    assert due == local(2026, 3, 30, 9, 0)
    assert due is not None
    assert due.utcoffset() == timedelta(hours=2)


@given(st.integers(0, 14 * 24 * 60), st.integers(0, 40 * 60))
def test_the_next_opening_is_open_and_nothing_before_it_is(
    minute: int, office_minutes: int
) -> None:
    start = local(2026, 1, 1, 0, 0) + timedelta(minutes=minute)
    opening = next_opening(DEFAULT, start)
    assert opening is not None
    assert office_open(DEFAULT, opening)
    assert opening >= start
    probe = start
    while probe < opening:  # every minute before it is closed
        assert not office_open(DEFAULT, probe)
        probe += timedelta(minutes=7)
    due = add_office_time(DEFAULT, start, timedelta(minutes=office_minutes))
    assert due is not None
    assert due >= opening or office_minutes == 0


def test_office_time_between_counts_only_open_time_and_undoes_adding_it() -> None:
    friday_16 = local(2026, 1, 9, 16, 0)
    monday = local(2026, 1, 12, 11, 30)
    assert office_time_between(DEFAULT, friday_16, monday) == timedelta(hours=4, minutes=30)
    assert office_time_between(DEFAULT, monday, friday_16) == timedelta(0)
    evening = local(2026, 1, 9, 18, 0)
    assert office_time_between(DEFAULT, evening, local(2026, 1, 11, 23, 0)) == timedelta(0)
    kings_day = local(2026, 4, 27, 10, 0)  # a Monday and a public holiday
    assert office_time_between(DEFAULT, local(2026, 4, 24, 16, 0), kings_day) == timedelta(hours=1)


@given(
    start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    minutes=st.integers(0, 60 * 60),
)
def test_office_time_between_a_start_and_its_added_time_is_that_time(
    start: datetime, minutes: int
) -> None:
    end = add_office_time(DEFAULT, start, timedelta(minutes=minutes))
    assert end is not None
    assert office_time_between(DEFAULT, start, end) == timedelta(minutes=minutes)
