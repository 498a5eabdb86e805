"""The calendar on the screen pop, pure: from a reading, office hours and an instant; no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from libs.availability import Interval
from libs.events import OfficeHours
from services.calls.domain.calendar import (
    NOT_LINKED,
    BusyTime,
    LinkedCalendar,
    Observation,
    calendar_view,
    local_day,
)

AMS = ZoneInfo("Europe/Amsterdam")
MONDAY = date(2026, 1, 5)  # a working day; default office hours 08:00-17:00 in Amsterdam
TUESDAY = MONDAY + timedelta(days=1)
OFFICE = OfficeHours()
STALE = timedelta(minutes=5)
READ_AT = datetime.combine(MONDAY, time(9, 58), AMS)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    """An Amsterdam wall-clock time, on the Monday unless told."""
    return datetime.combine(day, time(hour, minute), AMS)


def busy(start: datetime, end: datetime, title: str = "") -> BusyTime:
    """Busy time between two instants."""
    return BusyTime(start, end, title)


MEETINGS = (
    busy(at(10), at(10, 30), "Dentist"),
    busy(at(11), at(12), "Site visit"),
    busy(at(9, day=TUESDAY), at(10, day=TUESDAY), "Tuesday call"),
)


def linked(
    *spans: BusyTime,
    read_at: datetime = READ_AT,
    window: timedelta = timedelta(hours=48),
    show_titles: bool = True,
    unreachable_since: datetime | None = None,
) -> LinkedCalendar:
    """A writable Google calendar read at `read_at` for `window` ahead."""
    seen = Observation(read_at, Interval(read_at, read_at + window), spans)
    return LinkedCalendar(
        provider="google",
        permission="write",
        show_titles=show_titles,
        observation=seen,
        unreachable_since=unreachable_since,
    )


def test_a_client_without_a_linked_calendar_is_unknown_and_not_stale() -> None:
    view = calendar_view(None, OFFICE, at(10), STALE)
    assert view == NOT_LINKED
    assert (view.linked, view.state, view.stale, view.appointments_today) == (
        False, "unknown", False, ()
    )  # fmt: skip


def test_a_linked_calendar_never_read_is_unknown_and_stale() -> None:
    calendar = LinkedCalendar(provider="caldav", permission="read", show_titles=False)
    view = calendar_view(calendar, OFFICE, at(10), STALE)
    assert (view.linked, view.provider, view.permission) == (True, "caldav", "read")
    assert (view.state, view.until, view.next_free_slot, view.read_at) == (
        "unknown", None, None, None
    )  # fmt: skip
    assert view.stale


def test_busy_until_the_meeting_ends_and_free_after_it() -> None:
    view = calendar_view(linked(*MEETINGS), OFFICE, at(10, 2), STALE)
    assert (view.state, view.until) == ("busy", at(10, 30))
    assert view.next_free_slot == Interval(at(10, 30), at(11))
    assert (view.read_at, view.stale) == (at(9, 58), False)


def test_free_until_the_next_meeting_starts() -> None:
    view = calendar_view(linked(*MEETINGS), OFFICE, at(9, 59), STALE)
    assert (view.state, view.until) == ("free", at(10))
    assert view.next_free_slot == Interval(at(10, 30), at(11))


def test_a_slot_shorter_than_fifteen_minutes_is_not_offered() -> None:
    tight = (busy(at(10), at(10, 50)), busy(at(11), at(16, 50)))
    view = calendar_view(linked(*tight), OFFICE, at(10, 5), STALE)
    assert (view.state, view.next_free_slot) == ("busy", None)


def test_busy_into_tomorrow_lasts_until_the_block_ends_within_the_window() -> None:
    away = busy(at(15), at(12, day=TUESDAY), "Conference")
    view = calendar_view(linked(away, read_at=at(14)), OFFICE, at(15, 30), STALE)
    assert (view.state, view.until, view.next_free_slot) == (
        "busy", at(12, day=TUESDAY), None
    )  # fmt: skip


def test_a_state_that_outlasts_the_window_has_no_end() -> None:
    away = busy(at(15), at(12, day=MONDAY + timedelta(days=3)))
    view = calendar_view(linked(away, read_at=at(14)), OFFICE, at(15, 30), STALE)
    assert (view.state, view.until) == ("busy", None)
    free = calendar_view(linked(read_at=at(14)), OFFICE, at(15, 30), STALE)
    assert (free.state, free.until, free.next_free_slot) == (
        "free", None, Interval(at(15, 30), at(17))
    )  # fmt: skip


def test_outside_the_window_read_the_state_is_unknown_but_today_is_still_shown() -> None:
    short = linked(*MEETINGS, read_at=at(9), window=timedelta(minutes=30))
    view = calendar_view(short, OFFICE, at(10, 5), STALE)
    assert (view.state, view.until, view.next_free_slot) == ("unknown", None, None)
    assert [a.title for a in view.appointments_today] == ["Dentist", "Site visit"]
    assert view.stale


def test_appointments_today_are_those_of_the_local_day_from_now_on() -> None:
    earlier = busy(at(8), at(9), "Breakfast")
    view = calendar_view(linked(earlier, *MEETINGS), OFFICE, at(10, 5), STALE)
    assert view.appointments_today == MEETINGS[:2]


def test_titles_are_blank_unless_the_client_shows_them() -> None:
    view = calendar_view(linked(*MEETINGS, show_titles=False), OFFICE, at(10, 5), STALE)
    assert [a.title for a in view.appointments_today] == ["", ""]
    assert [(a.start, a.end) for a in view.appointments_today] == [
        (m.start, m.end) for m in MEETINGS[:2]
    ]


def test_a_reading_older_than_the_threshold_is_stale() -> None:
    calendar = linked(*MEETINGS, read_at=at(10))
    assert not calendar_view(calendar, OFFICE, at(10, 5), STALE).stale
    old = calendar_view(calendar, OFFICE, at(10, 5) + timedelta(seconds=1), STALE)
    assert (old.stale, old.state) == (True, "busy")


def test_an_unreachable_calendar_is_stale_and_keeps_its_last_busy_time() -> None:
    calendar = linked(*MEETINGS, unreachable_since=at(10, 1))
    view = calendar_view(calendar, OFFICE, at(10, 2), STALE)
    assert (view.stale, view.unreachable_since, view.state) == (True, at(10, 1), "busy")
    assert len(view.appointments_today) == 2


def test_the_local_day_follows_the_offices_time_zone_across_summer_time() -> None:
    spring = date(2026, 3, 29)  # clocks go forward at 02:00 in Amsterdam: a 23-hour day
    day = local_day(OFFICE, at(12, day=spring))
    assert (day.start, day.end - day.start) == (at(0, day=spring), timedelta(hours=23))
    assert day.start.tzinfo == UTC  # UTC inside: differences and comparisons are plain
    late_utc = datetime.combine(MONDAY, time(23, 30), UTC)  # Tuesday in Amsterdam
    assert local_day(OFFICE, late_utc).start == at(0, day=TUESDAY)
