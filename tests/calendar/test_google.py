"""The Google Calendar adapter against a local Calendar v3 that checks Google's contract.

No test reaches Google: the server of tests/support/google_calendar.py stands in for both
the token endpoint and the API, and holds every request and answer to the discovery document
for calendar v3 that ships inside google-api-python-client. Each test ends by asserting that
the server recorded no violation.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.availability import Interval
from services.calendar.adapters.google_calendar import GoogleCalendar, event_id
from services.calendar.adapters.port import CalendarUnavailable, Entry
from services.calendar.domain.appointments import Appointment, Attendee
from tests.support.google_calendar import (
    CALENDAR_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    READ_ONLY_CALENDAR_ID,
    REFRESH_TOKEN,
    FakeGoogleCalendar,
    SilentServer,
)
from tests.support.processes import free_port

pytestmark = [pytest.mark.infra]

DAY = datetime(2030, 3, 4, tzinfo=UTC)  # a Monday
AMSTERDAM_WINTER = "+01:00"


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """A UTC instant on DAY (or days later)."""
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def timed(start: datetime, end: datetime) -> dict[str, Any]:
    """The start and end fields of a timed event."""
    return {"start": {"dateTime": stamp(start)}, "end": {"dateTime": stamp(end)}}


@pytest.fixture
def google() -> Iterator[FakeGoogleCalendar]:
    """A fresh local Calendar v3 for the test; no contract violation may be left at the end."""
    with FakeGoogleCalendar() as server:
        yield server
        assert server.violations == [], "requests or answers outside Google's contract"


def adapter(
    google: FakeGoogleCalendar, calendar_id: str = CALENDAR_ID, **options: Any
) -> GoogleCalendar:
    """The adapter on the local server's calendar, with the test account's grant."""
    settings: dict[str, Any] = {
        "token_uri": google.token_uri,
        "api_root": google.api_root,
        "timeout": 5.0,
        **options,
    }
    secret = settings.pop("client_secret", CLIENT_SECRET)
    refresh = settings.pop("refresh_token", REFRESH_TOKEN)
    return GoogleCalendar(calendar_id, CLIENT_ID, secret, refresh, **settings)


def appointment(start: datetime, minutes: int = 30, **fields: Any) -> Appointment:
    """An appointment with a fixed id, so every write of it has the same UID."""
    return Appointment(
        appointment_id=UUID("0190f7a4-1111-7000-8000-000000000001"),
        when=Interval(start, start + timedelta(minutes=minutes)),
        title=str(fields.pop("title", "Intake with Ms Jansen")),
        **fields,
    )


def methods(google: FakeGoogleCalendar) -> list[str]:
    return [method for method, _ in google.requests]


def assert_secrets_kept(exc: BaseException, *secrets: str) -> None:
    """No secret in the exception, its text or its printed traceback."""
    printed = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in printed


# ---------------------------------------------------------------------- reading


async def test_entries_in_order_across_pages_with_all_day_in_utc(
    google: FakeGoogleCalendar,
) -> None:
    google.page_size = 2  # five events in the window: three pages
    google.add_event(
        iCalUID="late@other-app",
        summary="Dentist",
        start={"dateTime": "2030-03-04T16:00:00+01:00"},
        end={"dateTime": "2030-03-04T17:00:00+01:00"},
    )
    google.add_event(iCalUID="early@other-app", summary="Standup", **timed(at(8), at(8, 15)))
    google.add_event(
        iCalUID="holiday@other-app",
        summary="Conference",
        start={"date": "2030-03-04"},
        end={"date": "2030-03-05"},
    )
    google.add_event(iCalUID="lunch@other-app", summary="Lunch", **timed(at(12), at(13)))
    google.add_event(iCalUID="overnight@other-app", **timed(at(-2), at(1)))  # no summary
    google.add_event(
        iCalUID="tomorrow@other-app", summary="Later", **timed(at(9, days=1), at(10, days=1))
    )
    google.add_event(
        iCalUID="cancelled@other-app", summary="Off", status="cancelled", **timed(at(10), at(11))
    )

    entries = await adapter(google).entries(DAY, DAY + timedelta(days=1))

    assert entries == [
        Entry("overnight@other-app", Interval(at(-2), at(1)), "", True),
        Entry("holiday@other-app", Interval(DAY, DAY + timedelta(days=1)), "Conference", True),
        Entry("early@other-app", Interval(at(8), at(8, 15)), "Standup", True),
        Entry("lunch@other-app", Interval(at(12), at(13)), "Lunch", True),
        Entry("late@other-app", Interval(at(15), at(16)), "Dentist", True),
    ]
    lists = [query for method, query in google.requests if method == "calendar.events.list"]
    assert len(lists) == 3
    assert "pageToken" not in lists[0]
    assert lists[1]["pageToken"] == ["p2"]
    assert all(q["singleEvents"] == ["true"] and q["orderBy"] == ["startTime"] for q in lists)


async def test_recurring_events_are_expanded(google: FakeGoogleCalendar) -> None:
    google.add_event(
        iCalUID="weekly@other-app",
        summary="Team meeting",
        start={"dateTime": stamp(at(9, days=-7)), "timeZone": "UTC"},
        end={"dateTime": stamp(at(10, days=-7)), "timeZone": "UTC"},
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
    )
    google.add_event(
        iCalUID="daily@other-app",
        summary="Medication",
        start={"dateTime": stamp(at(7)), "timeZone": "UTC"},
        end={"dateTime": stamp(at(7, 10)), "timeZone": "UTC"},
        recurrence=["RRULE:FREQ=DAILY;COUNT=2"],
    )

    entries = await adapter(google).entries(DAY, DAY + timedelta(days=14))

    assert [(e.uid, e.when.start) for e in entries] == [
        ("daily@other-app", at(7)),
        ("weekly@other-app", at(9)),
        ("daily@other-app", at(7, days=1)),
        ("weekly@other-app", at(9, days=7)),
    ]  # the weekly one's first time lies before the window and its fourth never happens


async def test_a_transparent_event_is_free(google: FakeGoogleCalendar) -> None:
    google.add_event(
        iCalUID="reminder@other-app",
        summary="Call the bank",
        transparency="transparent",
        **timed(at(10), at(11)),
    )
    calendar = adapter(google)

    [entry] = await calendar.entries(DAY, DAY + timedelta(days=1))
    busy = await calendar.busy(DAY, DAY + timedelta(days=1))

    assert entry.uid == "reminder@other-app"
    assert entry.busy is False
    assert busy == []


async def test_busy_time_comes_from_free_busy_clipped_to_the_window(
    google: FakeGoogleCalendar,
) -> None:
    google.add_event(iCalUID="a@other-app", **timed(at(9), at(10)))
    google.add_event(iCalUID="b@other-app", **timed(at(9, 30), at(11)))  # overlaps a
    google.add_event(iCalUID="c@other-app", **timed(at(17), at(19)))  # runs past the window
    google.add_event(iCalUID="d@other-app", transparency="transparent", **timed(at(13), at(14)))

    busy = await adapter(google).busy(at(8), at(18))

    assert busy == [Interval(at(9), at(11)), Interval(at(17), at(18))]
    assert methods(google) == ["calendar.freebusy.query"]


async def test_busy_ignoring_an_entry_reads_the_events(google: FakeGoogleCalendar) -> None:
    calendar = adapter(google)
    booked = appointment(at(10))
    await calendar.put(booked)
    google.add_event(iCalUID="other@other-app", **timed(at(14), at(15)))
    google.add_event(iCalUID="free@other-app", transparency="transparent", **timed(at(16), at(17)))
    google.requests.clear()

    busy = await calendar.busy(DAY, DAY + timedelta(days=1), ignoring=booked.uid)
    everything = await calendar.busy(DAY, DAY + timedelta(days=1))
    without_other = await calendar.busy(DAY, DAY + timedelta(days=1), ignoring="other@other-app")

    assert busy == [Interval(at(14), at(15))]
    assert everything == [Interval(at(10), at(10, 30)), Interval(at(14), at(15))]
    assert without_other == [Interval(at(10), at(10, 30))]
    assert methods(google) == [
        "calendar.events.list",
        "calendar.freebusy.query",
        "calendar.events.list",
    ]


# ---------------------------------------------------------------------- writing


async def test_put_creates_then_replaces_then_moves(google: FakeGoogleCalendar) -> None:
    calendar = adapter(google)
    first = appointment(at(10), location="Keizersgracht 1", description="New client")

    await calendar.put(first)
    [created] = google.events()
    await calendar.put(first)  # a retry: still one event
    assert len(google.events()) == 1
    moved = appointment(at(14), minutes=45, title="Intake (moved)")
    await calendar.put(moved)

    [event] = google.events()
    assert created["id"] == event["id"] == event_id(first.appointment_id)
    assert event["summary"] == "Intake (moved)"
    assert event["start"] == {"dateTime": "2030-03-04T14:00:00Z"}
    assert event["end"] == {"dateTime": "2030-03-04T14:45:00Z"}
    assert event["sequence"] == 2
    assert methods(google) == [
        "calendar.events.insert",
        "calendar.events.insert",  # 409: the id exists
        "calendar.events.update",
        "calendar.events.insert",
        "calendar.events.update",
    ]
    entries = await calendar.entries(DAY, DAY + timedelta(days=1))
    assert entries == [
        Entry(first.uid, Interval(at(14), at(14, 45)), "Intake (moved)", True)
    ]  # the appointment's UID, whatever iCalUID Google gave the event


async def test_the_caller_is_the_attendee(google: FakeGoogleCalendar) -> None:
    calendar = adapter(google)
    await calendar.put(
        appointment(at(10), attendee=Attendee("Mr de Vries", "devries@example.org", "+3120"))
    )
    [event] = google.events()
    assert event["attendees"] == [
        {
            "email": "devries@example.org",
            "displayName": "Mr de Vries",
            "responseStatus": "needsAction",
        }
    ]

    await calendar.put(appointment(at(10), attendee=Attendee("Mr de Vries", phone="+3120")))
    [event] = google.events()
    assert event["attendees"] == []  # no address: nobody to invite


async def test_remove_then_none_left_then_put_brings_it_back(
    google: FakeGoogleCalendar,
) -> None:
    calendar = adapter(google)
    booked = appointment(at(10))
    await calendar.put(booked)

    assert await calendar.remove(booked.uid) is True
    assert google.events() == []
    assert await calendar.remove(booked.uid) is False  # Google answers 410: deleted already
    assert await calendar.entries(DAY, DAY + timedelta(days=1)) == []

    await calendar.put(booked)  # Google keeps a deleted event's id: 409, then update
    [event] = google.events()
    assert event["status"] == "confirmed"
    assert await calendar.busy(DAY, DAY + timedelta(days=1)) == [booked.when]


async def test_remove_an_entry_of_another_app_by_its_ical_uid(
    google: FakeGoogleCalendar,
) -> None:
    google.add_event(iCalUID="theirs@other-app", summary="Theirs", **timed(at(9), at(10)))
    calendar = adapter(google)

    assert await calendar.remove("theirs@other-app") is True
    assert await calendar.remove("theirs@other-app") is False
    assert await calendar.remove(appointment(at(10)).uid) is False  # never written
    assert google.events() == []


async def test_the_access_token_is_kept_between_calls(google: FakeGoogleCalendar) -> None:
    calendar = adapter(google)
    await calendar.entries(DAY, DAY + timedelta(days=1))
    await calendar.busy(DAY, DAY + timedelta(days=1))
    await calendar.put(appointment(at(10)))
    assert google.token_requests == 1


async def test_every_method_the_adapter_uses_was_checked(google: FakeGoogleCalendar) -> None:
    """The checks did run: each of the five methods passed the contract at least once."""
    calendar = adapter(google)
    booked = appointment(at(10), attendee=Attendee("Ms Bakker", "bakker@example.org"))
    await calendar.put(booked)
    await calendar.put(booked)
    await calendar.busy(DAY, DAY + timedelta(days=1))
    await calendar.busy(DAY, DAY + timedelta(days=1), ignoring=booked.uid)
    await calendar.remove(booked.uid)
    assert set(methods(google)) == {
        "calendar.events.insert",
        "calendar.events.update",
        "calendar.events.list",
        "calendar.events.delete",
        "calendar.freebusy.query",
    }


# ---------------------------------------------------------------------- failing


async def test_a_refused_refresh_token_is_unavailable_and_stays_secret(
    google: FakeGoogleCalendar,
) -> None:
    wrong = "1//a-revoked-refresh-token-42"
    calendar = adapter(google, refresh_token=wrong)

    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.entries(DAY, DAY + timedelta(days=1))

    assert "credentials" in str(caught.value)
    assert_secrets_kept(caught.value, wrong, CLIENT_SECRET)
    assert wrong not in repr(calendar)
    assert CLIENT_SECRET not in repr(calendar)
    assert google.requests == []  # never past the token endpoint


async def test_a_wrong_client_secret_is_unavailable(google: FakeGoogleCalendar) -> None:
    wrong = "not-the-client-secret"
    with pytest.raises(CalendarUnavailable) as caught:
        await adapter(google, client_secret=wrong).put(appointment(at(10)))
    assert_secrets_kept(caught.value, wrong, REFRESH_TOKEN)


async def test_a_server_that_never_answers_is_unavailable_within_the_timeout(
    google: FakeGoogleCalendar,
) -> None:
    loop = asyncio.get_running_loop()
    with SilentServer() as silent:
        calendar = adapter(google, api_root=silent.url, token_uri=f"{silent.url}token", timeout=0.5)
        began = loop.time()
        with pytest.raises(CalendarUnavailable) as caught:
            await calendar.busy(DAY, DAY + timedelta(days=1))
        took = loop.time() - began
    assert took < 1.0
    assert "did not answer within 0.5 s" in str(caught.value)


async def test_an_api_that_never_answers_is_unavailable_within_the_timeout(
    google: FakeGoogleCalendar,
) -> None:
    loop = asyncio.get_running_loop()
    with SilentServer() as silent:
        calendar = adapter(google, api_root=silent.url, timeout=0.5)  # the token works
        began = loop.time()
        with pytest.raises(CalendarUnavailable) as caught:
            await calendar.entries(DAY, DAY + timedelta(days=1))
        took = loop.time() - began
    assert took < 1.0
    assert "did not answer" in str(caught.value)
    assert_secrets_kept(caught.value, REFRESH_TOKEN, CLIENT_SECRET, *google.access_tokens)


async def test_nobody_listening_is_unavailable(google: FakeGoogleCalendar) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/"
    calendar = adapter(google, api_root=nowhere, token_uri=f"{nowhere}token")
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.remove("x@other-app")
    assert "could not be reached" in str(caught.value)


async def test_a_calendar_that_does_not_exist_is_unavailable(google: FakeGoogleCalendar) -> None:
    calendar = adapter(google, calendar_id="gone@example.com")
    for call in (
        calendar.entries(DAY, DAY + timedelta(days=1)),
        calendar.busy(DAY, DAY + timedelta(days=1)),
        calendar.put(appointment(at(10))),
        calendar.remove(appointment(at(10)).uid),
    ):
        with pytest.raises(CalendarUnavailable) as caught:
            await call
        assert "not found" in str(caught.value)


async def test_a_read_only_calendar_reads_but_refuses_writes(google: FakeGoogleCalendar) -> None:
    google.add_event(READ_ONLY_CALENDAR_ID, iCalUID="x@other-app", **timed(at(9), at(10)))
    calendar = adapter(google, calendar_id=READ_ONLY_CALENDAR_ID)

    assert [e.uid for e in await calendar.entries(DAY, DAY + timedelta(days=1))] == ["x@other-app"]
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.put(appointment(at(10)))
    assert "refused access" in str(caught.value)


async def test_a_malformed_answer_is_unavailable(google: FakeGoogleCalendar) -> None:
    google.add_event(iCalUID="x@other-app", **timed(at(9), at(10)))

    def broken(method: str, answer: Any) -> Any:
        if method == "calendar.events.list":
            return {**answer, "items": [{"id": "abcde", "start": {"dateTime": "soon"}}]}
        return answer

    google.tamper = broken
    with pytest.raises(CalendarUnavailable) as caught:
        await adapter(google).entries(DAY, DAY + timedelta(days=1))

    assert "could not be read" in str(caught.value)
    # The server's own check saw the answer break Google's contract too.
    assert len(google.violations) == 1
    assert "items/0/start/dateTime" in google.violations[0]
    google.violations.clear()


# ---------------------------------------------------------------------- the checker itself


def access_token(google: FakeGoogleCalendar) -> str:
    answer = httpx.post(
        google.token_uri,
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


EVENTS = f"calendar/v3/calendars/{CALENDAR_ID.replace('@', '%40')}/events"
GOOD_EVENT = {"summary": "Fine", **timed(at(9), at(10))}


@pytest.mark.parametrize(
    ("verb", "path", "params", "body", "complaint"),
    [
        ("GET", EVENTS, {"colour": "blue"}, None, "has no parameter 'colour'"),
        ("GET", EVENTS, {"timeMin": "tomorrow"}, None, "not an RFC 3339 date-time"),
        ("GET", EVENTS, {"singleEvents": "yes"}, None, "not a boolean"),
        ("GET", EVENTS, {"maxResults": "0"}, None, "outside [1,"),
        ("GET", EVENTS, {"orderBy": "title"}, None, "none of ['startTime', 'updated']"),
        ("GET", EVENTS, {"orderBy": "startTime"}, None, "only available with singleEvents"),
        ("POST", EVENTS, {}, {**GOOD_EVENT, "summary": 5}, "summary: 5 is not of type 'string'"),
        ("POST", EVENTS, {}, {**GOOD_EVENT, "colour": "blue"}, "'colour' was unexpected"),
        ("POST", EVENTS, {}, {"summary": "No times"}, "is a required property"),
        ("POST", EVENTS, {}, {**GOOD_EVENT, "id": "NOT-BASE32"}, "not 5-1024 characters"),
        ("POST", EVENTS, {}, {**GOOD_EVENT, "id": "abcde", "iCalUID": "x@y"}, "only one of"),
        ("PATCH", EVENTS, {}, GOOD_EVENT, "only has ['GET', 'POST'] there"),
        ("GET", "calendar/v3/nothing/here", {}, None, "no method of calendar v3 has the path"),
        ("POST", "calendar/v3/freeBusy", {}, {"timeMin": "2030-03-04"}, "not a 'date-time'"),
    ],
)
def test_the_checker_refuses_what_google_would_not_take(
    google: FakeGoogleCalendar,
    verb: str,
    path: str,
    params: dict[str, str],
    body: dict[str, Any] | None,
    complaint: str,
) -> None:
    headers = {"Authorization": f"Bearer {access_token(google)}"}
    answer = httpx.request(
        verb, f"{google.api_root}{path}", params=params, json=body, headers=headers
    )

    assert answer.status_code == 400
    assert len(google.violations) == 1, google.violations
    assert complaint in google.violations[0]
    assert google.requests == []  # refused before the calendar saw it
    google.violations.clear()


def test_the_checker_lets_a_right_request_through_and_checks_the_bearer(
    google: FakeGoogleCalendar,
) -> None:
    url = f"{google.api_root}{EVENTS}"
    good = httpx.post(
        url, json=GOOD_EVENT, headers={"Authorization": f"Bearer {access_token(google)}"}
    )
    stranger = httpx.get(url, headers={"Authorization": "Bearer ya29.made-up"})
    anonymous = httpx.get(url)

    assert good.status_code == 200
    assert good.json()["summary"] == "Fine"
    assert stranger.status_code == 401
    assert anonymous.status_code == 401
    assert google.violations == []


async def test_no_secret_reaches_the_logs(
    google: FakeGoogleCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    calendar = adapter(google)
    await calendar.put(appointment(at(10)))
    await calendar.entries(DAY, DAY + timedelta(days=1))
    with pytest.raises(CalendarUnavailable):
        await adapter(google, refresh_token="1//revoked-one").busy(at(8), at(18))

    assert caplog.records  # the libraries did log at DEBUG
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, "1//revoked-one", *google.access_tokens):
        assert secret not in caplog.text
