"""The CalDAV adapter against a real Radicale: reading, writing, and every way it can fail."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from caldav.elements import cdav

from libs.availability import Interval
from services.calendar.adapters.caldav_calendar import CalDavCalendar
from services.calendar.adapters.port import CalendarUnavailable, Entry
from services.calendar.domain.appointments import Appointment, Attendee
from tests.calendar.conftest import FreshCalendar
from tests.support.processes import free_port
from tests.support.radicale import OTHER_PASSWORD, OTHER_USER, PASSWORD, USER

pytestmark = [pytest.mark.infra]

DAY = datetime(2030, 3, 4, tzinfo=UTC)  # a Monday, Amsterdam on CET (UTC+1)


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """A UTC instant on DAY (or days later)."""
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def vcalendar(*events: str) -> str:
    """A VCALENDAR around the given VEVENT bodies (the lines between BEGIN and END)."""
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20300101T000000Z\r\n{e}END:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Some App//EN\r\n{body}END:VCALENDAR\r\n"


def event(uid: str, start: str, end: str, *extra: str) -> str:
    """The lines of one VEVENT."""
    return "".join(f"{line}\r\n" for line in (f"UID:{uid}", start, end, *extra))


def adapter(calendar: FreshCalendar, **options: object) -> CalDavCalendar:
    """The adapter on the test's calendar, found by its URL."""
    return CalDavCalendar(calendar.server.url, USER, PASSWORD, calendar.url, **options)  # type: ignore[arg-type]


def appointment(start: datetime, minutes: int = 30, **fields: object) -> Appointment:
    """An appointment with a fixed id, so every write of it has the same UID."""
    return Appointment(
        appointment_id=UUID("0190f7a4-1111-7000-8000-000000000001"),
        when=Interval(start, start + timedelta(minutes=minutes)),
        title=str(fields.pop("title", "Intake with Ms Jansen")),
        **fields,  # type: ignore[arg-type]
    )


def assert_secret_kept(exc: BaseException, secret: str = PASSWORD) -> None:
    """The password is nowhere in the exception, its text or its printed traceback."""
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert secret not in "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------------------- reading


async def test_an_event_is_read_back_as_an_entry(calendar: FreshCalendar) -> None:
    await calendar.plant(
        vcalendar(
            event(
                "dentist-1",
                "DTSTART:20300304T090000Z",
                "DTEND:20300304T100000Z",
                "SUMMARY:Dentist",
            )
        )
    )

    entries = await adapter(calendar).entries(at(0), at(24))

    assert entries == [Entry("dentist-1", Interval(at(9), at(10)), "Dentist", busy=True)]


async def test_entries_are_those_overlapping_the_window_in_order(
    calendar: FreshCalendar,
) -> None:
    await calendar.plant(
        vcalendar(
            event("late", "DTSTART:20300304T150000Z", "DTEND:20300304T160000Z", "SUMMARY:Late")
        )
    )
    await calendar.plant(
        vcalendar(event("early", "DTSTART:20300304T073000Z", "DTEND:20300304T083000Z"))
    )
    await calendar.plant(
        vcalendar(event("before", "DTSTART:20300304T060000Z", "DTEND:20300304T070000Z"))
    )
    await calendar.plant(
        vcalendar(event("after", "DTSTART:20300304T170000Z", "DTEND:20300304T180000Z"))
    )

    entries = await adapter(calendar).entries(at(8), at(17))

    assert [(e.uid, e.title) for e in entries] == [("early", ""), ("late", "Late")]


async def test_a_recurring_event_is_expanded_with_its_exceptions(
    calendar: FreshCalendar,
) -> None:
    await calendar.plant(
        vcalendar(
            event(
                "standup",
                "DTSTART;TZID=Europe/Amsterdam:20300304T090000",
                "DTEND;TZID=Europe/Amsterdam:20300304T091500",
                "RRULE:FREQ=DAILY;COUNT=6",
                "EXDATE;TZID=Europe/Amsterdam:20300307T090000",
                "SUMMARY:Stand-up",
            ),
            event(
                "standup",
                "RECURRENCE-ID;TZID=Europe/Amsterdam:20300305T090000",
                "DTSTART;TZID=Europe/Amsterdam:20300305T140000",
                "DTEND;TZID=Europe/Amsterdam:20300305T141500",
                "SUMMARY:Stand-up (moved)",
            ),
            event(
                "standup",
                "RECURRENCE-ID;TZID=Europe/Amsterdam:20300306T090000",
                "DTSTART;TZID=Europe/Amsterdam:20300306T090000",
                "DTEND;TZID=Europe/Amsterdam:20300306T091500",
                "STATUS:CANCELLED",
            ),
        )
    )

    entries = await adapter(calendar).entries(at(0), at(0, days=5))

    assert [(e.when.start, e.title) for e in entries] == [
        (at(8), "Stand-up"),
        (at(13, days=1), "Stand-up (moved)"),
        (at(8, days=4), "Stand-up"),
    ]
    assert {e.uid for e in entries} == {"standup"}
    assert all(e.when.end - e.when.start == timedelta(minutes=15) for e in entries)


async def test_a_transparent_event_is_an_entry_but_not_busy(calendar: FreshCalendar) -> None:
    await calendar.plant(
        vcalendar(
            event(
                "maybe",
                "DTSTART:20300304T090000Z",
                "DTEND:20300304T100000Z",
                "TRANSP:TRANSPARENT",
                "SUMMARY:Optional webinar",
            )
        )
    )
    calendar_port = adapter(calendar)

    assert [e.busy for e in await calendar_port.entries(at(0), at(24))] == [False]
    assert await calendar_port.busy(at(0), at(24)) == []


async def test_a_cancelled_event_is_left_out(calendar: FreshCalendar) -> None:
    await calendar.plant(
        vcalendar(
            event("off", "DTSTART:20300304T090000Z", "DTEND:20300304T100000Z", "STATUS:CANCELLED")
        )
    )

    assert await adapter(calendar).entries(at(0), at(24)) == []


async def test_an_all_day_event_is_the_whole_day_in_utc(calendar: FreshCalendar) -> None:
    await calendar.plant(
        vcalendar(
            event(
                "holiday",
                "DTSTART;VALUE=DATE:20300304",
                "DTEND;VALUE=DATE:20300305",
                "SUMMARY:Day off",
            )
        )
    )

    entries = await adapter(calendar).entries(at(12), at(13))

    assert entries == [Entry("holiday", Interval(at(0), at(24)), "Day off", busy=True)]


async def test_an_all_day_event_is_the_whole_day_in_the_calendars_zone(
    calendar: FreshCalendar,
) -> None:
    zone = vcalendar().replace(
        "END:VCALENDAR",
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Amsterdam\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
        "DTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
        "END:VCALENDAR",
    )
    await calendar.raw.set_properties([cdav.CalendarTimeZone(zone)])
    await calendar.plant(
        vcalendar(event("holiday", "DTSTART;VALUE=DATE:20300304", "DTEND;VALUE=DATE:20300305"))
    )

    entries = await adapter(calendar).entries(at(12), at(13))

    assert [e.when for e in entries] == [Interval(at(-1), at(23))]


# ---------------------------------------------------------------------------- busy time


async def test_busy_time_is_clipped_to_the_window_and_can_ignore_one_entry(
    calendar: FreshCalendar,
) -> None:
    await calendar.plant(
        vcalendar(event("morning", "DTSTART:20300304T080000Z", "DTEND:20300304T110000Z"))
    )
    await calendar.plant(
        vcalendar(event("lunch", "DTSTART:20300304T120000Z", "DTEND:20300304T130000Z"))
    )
    await calendar.plant(
        vcalendar(event("evening", "DTSTART:20300304T160000Z", "DTEND:20300304T200000Z"))
    )
    calendar_port = adapter(calendar)

    assert await calendar_port.busy(at(10), at(17)) == [
        Interval(at(10), at(11)),
        Interval(at(12), at(13)),
        Interval(at(16), at(17)),
    ]
    assert await calendar_port.busy(at(10), at(17), ignoring="lunch") == [
        Interval(at(10), at(11)),
        Interval(at(16), at(17)),
    ]


# ---------------------------------------------------------------------------- writing


async def test_put_creates_replaces_and_moves_the_one_entry(calendar: FreshCalendar) -> None:
    calendar_port = adapter(calendar)
    first = appointment(at(9))

    await calendar_port.put(first)
    assert await calendar_port.entries(at(0), at(24)) == [
        Entry(first.uid, first.when, "Intake with Ms Jansen", busy=True)
    ]

    await calendar_port.put(first)
    assert await calendar.count() == 1
    assert len(await calendar_port.entries(at(0), at(24))) == 1

    moved = appointment(at(14), minutes=45, title="Intake with Ms Jansen (moved)")
    await calendar_port.put(moved)

    assert await calendar.count() == 1
    assert await calendar_port.entries(at(0), at(24)) == [
        Entry(first.uid, moved.when, "Intake with Ms Jansen (moved)", busy=True)
    ]
    assert await calendar_port.busy(at(0), at(24), ignoring=first.uid) == []


async def test_remove_deletes_the_entry_once(calendar: FreshCalendar) -> None:
    calendar_port = adapter(calendar)
    booked = appointment(at(9))
    await calendar_port.put(booked)

    assert await calendar_port.remove(booked.uid) is True
    assert await calendar_port.entries(at(0), at(24)) == []
    assert await calendar.count() == 0
    assert await calendar_port.remove(booked.uid) is False


async def test_the_written_event_carries_uid_times_place_and_attendee(
    calendar: FreshCalendar,
) -> None:
    booked = appointment(
        at(9),
        location="Keizersgracht 1, Amsterdam",
        description="Called about a lease.\nPrefers mornings.",
        attendee=Attendee("Anna Jansen", "anna@example.org", "+31612345678"),
    )

    await adapter(calendar).put(booked)

    stored = await calendar.stored(booked.uid)
    assert str(stored["UID"]) == "0190f7a4-1111-7000-8000-000000000001@frontdesk"
    assert stored.decoded("DTSTART") == at(9)
    assert stored.decoded("DTSTART").utcoffset() == timedelta(0)
    assert stored.decoded("DTEND") == at(9, 30)
    assert str(stored["SUMMARY"]) == "Intake with Ms Jansen"
    assert str(stored["LOCATION"]) == "Keizersgracht 1, Amsterdam"
    assert str(stored["DESCRIPTION"]) == "Called about a lease.\nPrefers mornings."
    attendee = stored["ATTENDEE"]
    assert str(attendee) == "mailto:anna@example.org"
    assert attendee.params["CN"] == "Anna Jansen"


async def test_an_attendee_without_email_is_not_invited(calendar: FreshCalendar) -> None:
    booked = appointment(at(9), attendee=Attendee("Anna Jansen", phone="+31612345678"))

    await adapter(calendar).put(booked)

    assert "ATTENDEE" not in await calendar.stored(booked.uid)


async def test_a_move_raises_the_sequence(calendar: FreshCalendar) -> None:
    calendar_port = adapter(calendar)
    await calendar_port.put(appointment(at(9)))
    await calendar_port.put(appointment(at(10)))

    assert int((await calendar.stored(appointment(at(9)).uid))["SEQUENCE"]) == 1


# ---------------------------------------------------------------------------- finding it


async def test_the_calendar_is_found_by_display_name(calendar: FreshCalendar) -> None:
    await calendar.plant(
        vcalendar(event("named", "DTSTART:20300304T090000Z", "DTEND:20300304T100000Z"))
    )
    by_name = CalDavCalendar(calendar.server.url, USER, PASSWORD, calendar.name)
    by_url_alone = CalDavCalendar(calendar.url, USER, PASSWORD)

    assert [e.uid for e in await by_name.entries(at(0), at(24))] == ["named"]
    assert [e.uid for e in await by_url_alone.entries(at(0), at(24))] == ["named"]


async def test_no_such_calendar_is_unavailable(calendar: FreshCalendar) -> None:
    server = calendar.server
    missing_url = CalDavCalendar(server.url, USER, PASSWORD, f"{server.user_url()}nothing/")
    missing_name = CalDavCalendar(server.url, USER, PASSWORD, "No such calendar")
    not_a_calendar = CalDavCalendar(server.user_url(), USER, PASSWORD)

    for calendar_port in (missing_url, missing_name, not_a_calendar):
        with pytest.raises(CalendarUnavailable) as caught:
            await calendar_port.entries(at(0), at(24))
        assert_secret_kept(caught.value)


async def test_a_calendar_gone_meanwhile_is_unavailable_not_empty(
    calendar: FreshCalendar,
) -> None:
    calendar_port = adapter(calendar)
    await calendar_port.put(appointment(at(9)))
    await calendar.raw.delete()

    with pytest.raises(CalendarUnavailable, match="not found"):
        await calendar_port.remove(appointment(at(9)).uid)
    with pytest.raises(CalendarUnavailable):
        await calendar_port.entries(at(0), at(24))


# ---------------------------------------------------------------------------- failures


async def test_a_wrong_password_is_unavailable_without_the_password_in_the_reason(
    calendar: FreshCalendar,
) -> None:
    wrong = "not-the-password-4711"
    calendar_port = CalDavCalendar(calendar.server.url, USER, wrong, calendar.url)

    with pytest.raises(CalendarUnavailable, match="credentials") as caught:
        await calendar_port.entries(at(0), at(24))
    assert_secret_kept(caught.value, wrong)
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar_port.put(appointment(at(9)))
    assert_secret_kept(caught.value, wrong)


async def test_another_users_calendar_is_unavailable(calendar: FreshCalendar) -> None:
    calendar_port = CalDavCalendar(calendar.server.url, OTHER_USER, OTHER_PASSWORD, calendar.url)

    with pytest.raises(CalendarUnavailable) as caught:
        await calendar_port.entries(at(0), at(24))
    assert_secret_kept(caught.value, OTHER_PASSWORD)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.mark.timeout(20)
async def test_a_server_that_never_answers_is_unavailable_within_the_timeout(
    silent_server: str,
) -> None:
    calendar_port = CalDavCalendar(
        silent_server, USER, PASSWORD, f"{silent_server}{USER}/work/", timeout=0.5
    )

    for call in (
        lambda: calendar_port.entries(at(0), at(24)),
        lambda: calendar_port.put(appointment(at(9))),
        lambda: calendar_port.remove("anything@frontdesk"),
    ):
        with pytest.raises(CalendarUnavailable, match="did not answer") as caught:
            await call()
        assert_secret_kept(caught.value)


@pytest.mark.timeout(20)
async def test_a_stopped_server_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    calendar_port = CalDavCalendar(url, USER, PASSWORD, f"{url}{USER}/work/", timeout=2)

    with pytest.raises(CalendarUnavailable, match="could not be reached") as caught:
        await calendar_port.busy(at(0), at(24))
    assert_secret_kept(caught.value)


def test_the_password_stays_out_of_the_repr() -> None:
    calendar_port = CalDavCalendar("https://cal.example.org/", USER, PASSWORD, "Work")

    assert PASSWORD not in repr(calendar_port)
    assert PASSWORD not in str(calendar_port)
    assert "cal.example.org" in repr(calendar_port)
