"""Whether a client's office is open: weekly schedule, Dutch holidays, closures, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from libs.events import Closure, OfficeHours, OpeningSpan, WeeklySchedule
from services.intake.office_hours import is_open

DEFAULT = OfficeHours()


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), True),  # Monday 08:00 in Amsterdam (CET)
        (datetime(2026, 1, 5, 6, 59, tzinfo=UTC), False),  # Monday 07:59
        (datetime(2026, 1, 5, 16, 0, tzinfo=UTC), False),  # Monday 17:00: closing is exclusive
        (datetime(2026, 7, 6, 14, 30, tzinfo=UTC), True),  # Monday 16:30 in summer (CEST)
        (datetime(2026, 7, 6, 15, 30, tzinfo=UTC), False),  # Monday 17:30 in summer
        (datetime(2026, 1, 10, 10, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 4, 27, 10, 0, tzinfo=UTC), False),  # King's Day, a Monday
        (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), False),  # Christmas Day, a Friday
    ],
)
def test_default_hours_are_weekdays_eight_to_five_in_amsterdam_without_dutch_holidays(
    instant: datetime, expected: bool
) -> None:
    assert is_open(DEFAULT, instant) is expected


def test_a_closure_closes_the_office() -> None:
    outing = Closure(
        starts_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
        ends_at=datetime(2026, 1, 5, 14, tzinfo=UTC),
        reason="company outing",
    )
    hours = OfficeHours(closures=(outing,))
    assert is_open(hours, datetime(2026, 1, 5, 11, 59, tzinfo=UTC))
    assert not is_open(hours, datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    assert is_open(hours, datetime(2026, 1, 5, 14, 0, tzinfo=UTC))


def test_own_schedule_time_zone_and_no_holidays() -> None:
    saturday_morning = (OpeningSpan(opens=time(9), closes=time(12)),)
    hours = OfficeHours(
        timezone="Europe/London",
        weekly=WeeklySchedule(sat=saturday_morning),
        public_holidays=None,
    )
    assert is_open(hours, datetime(2026, 1, 10, 9, 0, tzinfo=UTC))  # Saturday 09:00 in London
    assert not is_open(hours, datetime(2026, 1, 10, 12, 0, tzinfo=UTC))
    assert is_open(hours, datetime(2026, 4, 27, 10, 0, tzinfo=UTC))  # King's Day is Dutch
