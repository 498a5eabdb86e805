"""Calls' projection of the calendar topic and the calendar on its screen pop.

In-process on a rolled-back PostgreSQL transaction: the calendar service's events are handed
to calls' reactions as its consumer would (without the inbox, so a second delivery reaches
the handlers), and the screen pop is asked for over calls' API at the simulated instant. One
test at the end runs a calls process that learns the events through Kafka.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest

from libs.events.calendar import (
    BusySpan,
    CalendarLinked,
    CalendarObserved,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CalendarUnreachable,
    Permission,
)
from libs.events.catalogue import topic_for
from libs.platform.settings import Settings
from services.calls import directory, reactions
from services.calls.schemas import CalendarRead
from tests.calls.conftest import CALLS_APP, TWILIO_TOKEN, seed_client
from tests.calls.inprocess import MONDAY_10, Calls
from tests.support.pipeline import wait_until
from tests.support.stack import Infrastructure, Stack, private_world, running_stack

pytestmark = [pytest.mark.infra]
AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY = MONDAY_10.date() + timedelta(days=1)


def local(hour: int, minute: int = 0, day: date | None = None) -> datetime:
    """An Amsterdam wall-clock time, on the Monday of MONDAY_10 unless told."""
    return datetime.combine(day or MONDAY_10.date(), time(hour, minute), AMS).astimezone(UTC)


def span(start: datetime, end: datetime, title: str = "") -> BusySpan:
    """Busy time between two instants."""
    return BusySpan(start=start, end=end, title=title)


DAY = (
    span(local(9, 50), local(10, 30), "Dentist"),
    span(local(11), local(12), "Site visit Jansen"),
    span(local(9, day=TUESDAY), local(10, day=TUESDAY), "Tuesday call"),
)
"""The client's calendar around MONDAY_10 (10:00 in Amsterdam): at the dentist until 10:30."""


def linked(
    client_id: UUID,
    at: datetime,
    *,
    show_titles: bool = True,
    permission: Permission = "write",
) -> CalendarLinked:
    """The client linked its Google calendar."""
    return CalendarLinked(
        client_id=client_id, occurred_at=at, provider="google", calendar="primary",
        account="jan@bakker.nl", permission=permission, show_titles=show_titles,
    )  # fmt: skip


def observed(
    client_id: UUID, read_at: datetime, *spans: BusySpan, hours: int = 48
) -> CalendarObserved:
    """The calendar read at `read_at`, for `hours` ahead."""
    return CalendarObserved(
        client_id=client_id, occurred_at=read_at, read_at=read_at, window_start=read_at,
        window_end=read_at + timedelta(hours=hours), busy=spans,
    )  # fmt: skip


def unreachable(client_id: UUID, since: datetime) -> CalendarUnreachable:
    """The calendar could not be read since `since`."""
    return CalendarUnreachable(
        client_id=client_id, occurred_at=since, since=since, error="401 from Google"
    )


def permission(
    client_id: UUID, at: datetime, *, show_titles: bool, allowed: Permission = "write"
) -> CalendarPermissionChanged:
    """The client changed what the bureau may do and whether operators see titles."""
    return CalendarPermissionChanged(
        client_id=client_id, occurred_at=at, permission=allowed, show_titles=show_titles
    )


def unlinked(client_id: UUID, at: datetime) -> CalendarUnlinked:
    """The client unlinked its calendar."""
    return CalendarUnlinked(client_id=client_id, occurred_at=at)


async def client(calls: Calls) -> tuple[UUID, str]:
    """A client with a number (default office hours, 08:00-17:00); (its id, the number)."""
    number = await calls.client()
    line = await directory.line_for(calls.store.pool, calls.store.schema, number, None)
    assert line is not None
    return line.client_id, number


async def on_screen(http: httpx.AsyncClient, number: str) -> CalendarRead:
    """The calendar on the screen pop of a call to the number, now."""
    response = await http.post("/calls", json={"dialled_number": number})
    assert response.status_code == 201, response.text
    return CalendarRead.model_validate(response.json()["calendar"])


async def stored(calls: Calls, client_id: UUID) -> dict[str, Any]:
    """Calls' row of the client's calendar."""
    row = await calls.store.pool.fetchrow(
        f"SELECT * FROM {calls.store.schema}.client_calendars WHERE client_id = $1", client_id
    )
    assert row is not None
    return dict(row)


def titles(calendar: CalendarRead) -> list[str]:
    """The titles of today's appointments as the screen shows them."""
    return [appointment.title for appointment in calendar.appointments_today]


async def test_a_client_without_a_calendar_is_not_linked(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    _, number = await client(calls)
    response = await http.post("/calls", json={"dialled_number": number})
    assert response.json()["calendar"] == {
        "linked": False, "provider": None, "permission": None, "state": "unknown",
        "until": None, "next_free_slot": None, "appointments_today": [], "read_at": None,
        "stale": False, "unreachable_since": None,
    }  # fmt: skip


async def test_the_screen_pop_shows_free_or_busy_until_when_and_the_next_free_slot(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    client_id, number = await client(calls)
    read_at = calls.now - timedelta(minutes=1)
    await calls.calendar(linked(client_id, calls.now - timedelta(days=1)))
    assert (await on_screen(http, number)).model_dump(include={"linked", "state", "stale"}) == {
        "linked": True, "state": "unknown", "stale": True,  # linked, not read yet
    }  # fmt: skip
    await calls.calendar(observed(client_id, read_at, *DAY))
    calendar = await on_screen(http, number)
    assert (calendar.provider, calendar.permission) == ("google", "write")
    assert (calendar.state, calendar.until) == ("busy", local(10, 30))
    assert calendar.next_free_slot is not None
    assert (calendar.next_free_slot.start, calendar.next_free_slot.end) == (
        local(10, 30), local(11)
    )  # fmt: skip
    assert [(a.start, a.end, a.title) for a in calendar.appointments_today] == [
        (s.start, s.end, s.title) for s in DAY[:2]
    ]
    assert (calendar.read_at, calendar.stale, calendar.unreachable_since) == (read_at, False, None)
    calls.now = local(10, 40)
    later = await on_screen(http, number)
    assert (later.state, later.until, later.stale) == ("free", local(11), True)
    assert titles(later) == ["Site visit Jansen"]


async def test_titles_are_shown_only_while_the_client_allows_it(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    client_id, number = await client(calls)
    start = calls.now - timedelta(hours=1)
    hidden = [linked(client_id, start, show_titles=False), observed(client_id, start, *DAY)]
    await calls.calendar(*hidden)  # titles in the reading all the same: calls drops them
    assert titles(await on_screen(http, number)) == ["", ""]
    assert "Dentist" not in (await stored(calls, client_id))["busy"]
    await calls.calendar(permission(client_id, start + timedelta(minutes=1), show_titles=True))
    assert titles(await on_screen(http, number)) == ["", ""]  # until the next reading
    await calls.calendar(observed(client_id, calls.now - timedelta(minutes=1), *DAY))
    assert titles(await on_screen(http, number)) == ["Dentist", "Site visit Jansen"]
    change = permission(client_id, calls.now, show_titles=False, allowed="read")
    await calls.calendar(change)
    calendar = await on_screen(http, number)
    assert (titles(calendar), calendar.permission) == (["", ""], "read")
    assert "Dentist" not in (await stored(calls, client_id))["busy"]


async def test_an_unreachable_calendar_is_stale_and_shows_its_last_busy_time(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    client_id, number = await client(calls)
    read_at = calls.now - timedelta(minutes=2)
    since = calls.now - timedelta(minutes=1)
    await calls.calendar(
        linked(client_id, calls.now - timedelta(days=1)),
        observed(client_id, read_at, *DAY),
        unreachable(client_id, since),
    )
    calendar = await on_screen(http, number)
    assert (calendar.stale, calendar.unreachable_since, calendar.read_at) == (True, since, read_at)
    assert (calendar.state, calendar.until) == ("busy", local(10, 30))
    assert titles(calendar) == ["Dentist", "Site visit Jansen"]
    await calls.calendar(unreachable(client_id, calls.now))  # still failing: since stays
    assert (await on_screen(http, number)).unreachable_since == since
    await calls.calendar(observed(client_id, calls.now, *DAY[1:]))
    calendar = await on_screen(http, number)
    assert (calendar.stale, calendar.unreachable_since, calendar.state) == (False, None, "free")


async def test_an_old_reading_is_stale(calls: Calls, http: httpx.AsyncClient) -> None:
    client_id, number = await client(calls)
    await calls.calendar(
        linked(client_id, calls.now - timedelta(days=1)),
        observed(client_id, calls.now - timedelta(minutes=5), *DAY),
    )
    assert not (await on_screen(http, number)).stale  # 300 s: not older than the threshold
    calls.now += timedelta(seconds=1)
    calendar = await on_screen(http, number)
    assert (calendar.stale, calendar.state) == (True, "busy")


async def test_an_unlinked_calendar_is_forgotten_and_a_late_reading_does_not_return(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    client_id, number = await client(calls)
    start = calls.now - timedelta(hours=2)
    await calls.calendar(linked(client_id, start), observed(client_id, start, *DAY))
    await calls.calendar(unlinked(client_id, calls.now - timedelta(hours=1)))
    calendar = await on_screen(http, number)
    assert (calendar.linked, calendar.state, calendar.appointments_today) == (False, "unknown", [])
    await calls.calendar(observed(client_id, calls.now - timedelta(minutes=1), *DAY))
    assert not (await on_screen(http, number)).linked
    row = await stored(calls, client_id)
    assert (row["provider"], row["read_at"], row["busy"]) == (None, None, "[]")
    await calls.calendar(linked(client_id, calls.now - timedelta(minutes=30)))
    again = await on_screen(http, number)
    assert (again.linked, again.state, again.read_at) == (True, "unknown", None)


async def test_a_second_delivery_changes_nothing(calls: Calls) -> None:
    client_id, _ = await client(calls)
    first = calls.now - timedelta(hours=1)
    history = [
        linked(client_id, first),
        observed(client_id, first + timedelta(minutes=4), *DAY),
        unreachable(client_id, first + timedelta(minutes=8)),
        permission(client_id, first + timedelta(minutes=9), show_titles=False),
    ]
    for event in history:
        await calls.calendar(event)
        once = await stored(calls, client_id)
        await calls.calendar(*history[: history.index(event) + 1])  # everything so far, again
        assert await stored(calls, client_id) == once, event.type


async def test_older_deliveries_do_not_overwrite_newer_facts(calls: Calls) -> None:
    client_id, _ = await client(calls)
    t0 = calls.now - timedelta(hours=1)
    newer = observed(client_id, t0 + timedelta(minutes=8), *DAY[1:])
    older = observed(client_id, t0 + timedelta(minutes=4), *DAY)
    await calls.calendar(linked(client_id, t0), newer, older)
    assert (await stored(calls, client_id))["read_at"] == newer.read_at
    await calls.calendar(unreachable(client_id, t0 + timedelta(minutes=6)))  # before `newer`
    assert (await stored(calls, client_id))["unreachable_since"] is None
    await calls.calendar(
        unreachable(client_id, t0 + timedelta(minutes=12)),
        observed(client_id, t0 + timedelta(minutes=10)),  # read before it failed: still failing
    )
    row = await stored(calls, client_id)
    assert (row["read_at"], row["unreachable_since"]) == (
        t0 + timedelta(minutes=10), t0 + timedelta(minutes=12)
    )  # fmt: skip
    await calls.calendar(
        permission(client_id, t0 + timedelta(minutes=20), show_titles=True, allowed="read"),
        permission(client_id, t0 + timedelta(minutes=15), show_titles=False),
    )
    row = await stored(calls, client_id)
    assert (row["permission"], row["show_titles"]) == ("read", True)
    await calls.calendar(
        unlinked(client_id, t0 + timedelta(minutes=30)), linked(client_id, t0)
    )  # a link older than the unlink
    assert (await stored(calls, client_id))["linked"] is False


async def test_a_link_made_anew_forgets_the_reading_of_the_previous_one(calls: Calls) -> None:
    client_id, _ = await client(calls)
    t0 = calls.now - timedelta(hours=1)
    await calls.calendar(
        linked(client_id, t0),
        observed(client_id, t0 + timedelta(minutes=1), *DAY),
        unreachable(client_id, t0 + timedelta(minutes=5)),
        linked(client_id, t0 + timedelta(minutes=10), show_titles=False),
        observed(client_id, t0 + timedelta(minutes=9), *DAY),  # read under the previous link
    )
    row = await stored(calls, client_id)
    assert (row["read_at"], row["unreachable_since"], row["show_titles"]) == (None, None, False)


def test_calls_consumes_the_calendar_topic_in_a_subscription_of_its_own() -> None:
    settings = Settings.model_validate({"service": "calls", "DATABASE_URL": "postgresql://-"})
    by_name = {sub.name: sub for sub in reactions.subscriptions(settings)}
    calendar = by_name[f"{settings.topic_prefix}-calls-calendar"]
    assert calendar.topics == (topic_for("calendar", settings.topic_prefix),)
    assert set(calendar.handlers) == {
        "CalendarLinked", "CalendarPermissionChanged", "CalendarUnlinked", "CalendarObserved",
        "CalendarUnreachable",
    }  # fmt: skip


@pytest.fixture(scope="module")
async def calendar_stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One calls process fed by intake's and the calendar service's stores."""
    env = {"FRONTDESK_CALLS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}
    async with (
        private_world(infra, tmp_path_factory.mktemp("calls-calendar")) as world,
        running_stack(Stack, world, CALLS_APP, feeds=("intake", "calendar"), env=env) as calls,
    ):
        yield calls


async def test_a_calls_process_learns_the_calendar_through_kafka(calendar_stack: Stack) -> None:
    stack = calendar_stack
    seeded = await seed_client(stack)
    now = datetime.now(UTC)
    meeting = span(now - timedelta(minutes=5), now + timedelta(minutes=40), "Dentist")
    reading = observed(seeded.client_id, now, meeting)
    await stack.append([linked(seeded.client_id, now - timedelta(seconds=1)), reading])

    async def learnt() -> bool:
        found = await stack.pool.fetchval(
            f"SELECT read_at FROM {stack.schema}.client_calendars WHERE client_id = $1",
            seeded.client_id,
        )
        return found is not None

    await wait_until(learnt, within=30, what="calls to learn the client's calendar")
    response = await stack.http.post("/calls", json={"dialled_number": seeded.number})
    assert response.status_code == 201, response.text
    calendar = CalendarRead.model_validate(response.json()["calendar"])
    assert (calendar.linked, calendar.state, calendar.until) == (True, "busy", meeting.end)
    assert (titles(calendar), calendar.read_at, calendar.stale) == (["Dentist"], now, False)
