"""The calendar service as a process, with calls as a process, on one simulated clock.

A client's CalDAV calendar (a Radicale of this module's own, so that it can be stopped) is
linked through the API; the calendar service reads it and calls keeps what it read, so the
operator's screen pop shows free or busy; with the calendar server gone the screen pop still
answers at once with the last known state, marked stale. Then the callback list end to end:
a voicemail left on Friday at 21:00 is a callback due on Monday at opening, given to the
Dutch-speaking operator on duty, marked done; another one left open escalates once overdue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import schemathesis
from caldav import aio

from libs.events import ClientActivated, new_id
from libs.events.calendar import AppointmentBooked, CallbackEscalated, CallbackScheduled
from libs.events.intake import NumberAssigned
from libs.events.routing import OperatorPresenceChanged, OperatorRegistered
from tests.support.builders import book_revised, registered
from tests.support.clock import amsterdam, private_clock, weekday_hours, working_weekend
from tests.support.credentials import STAFF
from tests.support.fuzz import aim_path_at, assert_no_server_error, operations_of
from tests.support.pipeline import metric_value, wait_until
from tests.support.processes import ServiceProcess
from tests.support.radicale import PASSWORD, USER, Radicale
from tests.support.stack import (
    Infrastructure,
    Stack,
    expect,
    get_when,
    private_world,
    running_stack,
    topic_events,
)

pytestmark = [pytest.mark.infra]

NUMBER = "+31850000077"
CALLER = "+31612345678"
HOURS = weekday_hours(9, 17)


FRIDAY, MONDAY = working_weekend(HOURS)
FRIDAY_20 = amsterdam(FRIDAY, 20)
FRIDAY_21 = amsterdam(FRIDAY, 21)
MONDAY_9 = amsterdam(MONDAY, 9)
CALENDAR_ENV = {
    "FRONTDESK_CALENDAR_ALLOW_HTTP_CALENDARS": "true",
    "FRONTDESK_CALENDAR_OUTBOUND_ALLOW": "127.0.0.1",
    "FRONTDESK_CALENDAR_OBSERVE_SECONDS": "1",
    "FRONTDESK_CALENDAR_HEARTBEAT_SECONDS": "60",
    "FRONTDESK_CALENDAR_READ_TIMEOUT_SECONDS": "2",
    "FRONTDESK_CALENDAR_TIMER_POLL_SECONDS": "0.5",
}
SCREEN_POP_TIMEOUT = 1.0
"""Far below the calendar's read timeout: a screen pop that waited for the calendar fails."""


@dataclass
class Flow:
    """The calendar process (as `stack`), the calls process, the client and its calendar."""

    stack: Stack
    calls: httpx.AsyncClient
    client_id: UUID
    radicale: Radicale
    calendar_url: str

    @property
    def calendar(self) -> httpx.AsyncClient:
        return self.stack.http

    async def set_clock(self, instant: datetime) -> None:
        expect(await self.calendar.post("/clock", json={"set_to": instant.isoformat()}), 200)


@pytest.fixture(scope="module")
async def flow(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Flow]:
    home = tmp_path_factory.mktemp("calendar-flow")
    radicale = Radicale(home / "radicale")
    await asyncio.to_thread(radicale.start)
    async with private_world(infra, home) as world:
        clock_dsn = await private_clock(infra.dsn, world.schema("clock"), FRIDAY_20)
        clock = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
        async with running_stack(
            Stack, world, "services.calendar.app:create_app", feeds=("intake", "routing"),
            env={**clock, **CALENDAR_ENV},
        ) as stack:  # fmt: skip
            calls: ServiceProcess = world.process(
                "services.calls.app:create_app", "calls", "calls", **clock
            )
            await asyncio.to_thread(calls.start)
            client_id = await seed(stack)
            url = await make_calendar(radicale)
            async with httpx.AsyncClient(base_url=calls.url, timeout=10, headers=STAFF) as http:
                await get_when(http, f"/lines/{NUMBER}", bool, what="calls knows the number")
                yield Flow(stack, http, client_id, radicale, url)
    radicale.stop()


async def seed(stack: Stack) -> UUID:
    """A Dutch client with weekday hours whose book says after-hours callers are called back,
    and two operators on the roster: Anna (Dutch) on duty, Bob (English) too."""
    signed_up = registered(at=FRIDAY_20 - timedelta(days=30), office_hours=HOURS)
    at = signed_up.occurred_at
    client_id = signed_up.client_id
    await stack.append([
        signed_up,
        NumberAssigned(client_id=client_id, occurred_at=at, number=NUMBER),
        book_revised(client_id, at=at, after_hours="call_back"),
        ClientActivated(client_id=client_id, occurred_at=at),
    ])  # fmt: skip
    for operator_id, language in (("op-anna", "nl"), ("op-bob", "en")):
        joined = OperatorRegistered(
            occurred_at=at, operator_id=operator_id, name=operator_id, languages=(language,)
        )
        on_duty = OperatorPresenceChanged(
            occurred_at=at, operator_id=operator_id, presence="available", previous="offline"
        )
        await stack.stores["routing"].append(f"operator-{operator_id}", None, [joined, on_duty])
    return client_id


async def make_calendar(radicale: Radicale) -> str:
    """A calendar in the Radicale account, as the client's calendar app would make it."""
    async with aio.AsyncDAVClient(
        url=radicale.url, username=USER, password=PASSWORD, timeout=10, require_tls=False
    ) as client:
        principal = await client.get_principal()
        made = await principal.make_calendar(name="Praktijk")
        await made.add_event(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:meeting@test\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{FRIDAY_20.astimezone(UTC):%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{(FRIDAY_20 + timedelta(minutes=90)).astimezone(UTC):%Y%m%dT%H%M%SZ}\r\n"
            "SUMMARY:Avondspreekuur\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        return str(made.url)


async def screen_pop(flow: Flow) -> dict[str, Any]:
    """A call comes in and the operator's screen pops, within the screen pop's short timeout."""
    body = {"dialled_number": NUMBER, "caller_number": CALLER}
    answered = await flow.calls.post("/calls", json=body, timeout=SCREEN_POP_TIMEOUT)
    return dict(expect(answered, 201))


async def test_the_screen_pop_shows_the_calendar_and_keeps_its_last_state_when_it_is_gone(
    flow: Flow,
) -> None:
    link = {
        "provider": "caldav", "calendar": flow.calendar_url, "account": USER,
        "secret": PASSWORD, "permission": "write", "show_titles": True,
    }  # fmt: skip
    linked = expect(await flow.calendar.put(f"/clients/{flow.client_id}/calendar", json=link), 200)
    assert linked["linked"]
    assert "secret" not in linked
    assert PASSWORD not in str(linked)

    async def busy_on_screen() -> bool:
        pop = await screen_pop(flow)
        return pop["calendar"]["state"] == "busy" and not pop["calendar"]["stale"]

    await wait_until(busy_on_screen, within=60, what="the screen pop shows the client busy")
    pop = await screen_pop(flow)
    shown = pop["calendar"]
    assert shown["until"] is not None
    assert datetime.fromisoformat(shown["until"]) == FRIDAY_20 + timedelta(minutes=90)
    assert [a["title"] for a in shown["appointments_today"]] == ["Avondspreekuur"]

    appointment = await book(flow, pop["call_id"], FRIDAY_20 + timedelta(days=3), "Intake")
    assert appointment["status"] == "booked"
    clash = await booking(flow, pop["call_id"], slot(FRIDAY_20 + timedelta(minutes=30)))
    assert clash.status_code == 409, clash.text  # the evening surgery is in the way
    later = {k: v for k, v in slot(FRIDAY_20 + timedelta(days=3, hours=1)).items() if k != "title"}
    path = f"/appointments/{appointment['appointment_id']}/move"
    moved = expect(await flow.calendar.post(path, json=later), 200)
    assert datetime.fromisoformat(moved["start"]) == FRIDAY_20 + timedelta(days=3, hours=1)

    await asyncio.to_thread(flow.radicale.stop)  # the calendar server is gone
    await flow.set_clock(FRIDAY_20 + timedelta(seconds=30))  # not old yet: stale for failing

    async def stale_on_screen() -> bool:
        shown = (await screen_pop(flow))["calendar"]
        return bool(shown["stale"] and shown["unreachable_since"])

    await wait_until(stale_on_screen, within=60, what="the screen pop marks the state stale")
    pop = await screen_pop(flow)  # answered within the short timeout, as always
    assert pop["calendar"]["state"] == "busy"
    assert [a["title"] for a in pop["calendar"]["appointments_today"]] == ["Avondspreekuur"]
    assert pop["calendar"]["unreachable_since"] is not None
    unreachable = await booking(flow, pop["call_id"], slot(FRIDAY_20 + timedelta(days=4)))
    assert unreachable.status_code == 503, unreachable.text
    booked = [e for e in await topic_events(flow.stack.world, "calendar", unique=True)
              if isinstance(e, AppointmentBooked)]  # fmt: skip
    assert [e.appointment_id for e in booked] == [UUID(appointment["appointment_id"])]
    assert metric_value(flow.stack.url, "frontdesk_calendar_reads_total", outcome="failed") >= 1
    assert metric_value(flow.stack.url, "frontdesk_calendars_unreachable", provider="caldav") == 1


def slot(start: datetime, minutes: int = 30, title: str = "Intake") -> dict[str, str]:
    """An appointment's body: its start and end, and a title."""
    end = start + timedelta(minutes=minutes)
    return {"start": start.isoformat(), "end": end.isoformat(), "title": title}


async def book(flow: Flow, call_id: str, start: datetime, title: str) -> dict[str, Any]:
    """Book an appointment from the call through the API."""
    body = {**slot(start, title=title), "attendee": {"name": "J. Jansen", "phone": CALLER}}
    return dict(expect(await booking(flow, call_id, body), 201))


async def booking(flow: Flow, call_id: str, body: dict[str, Any]) -> httpx.Response:
    """The answer to booking from the call, once the calendar service knows the call (it
    learns of it from calls a moment after the call came in)."""
    answers: list[httpx.Response] = []

    async def known() -> bool:
        answers.append(await flow.calendar.post(f"/calls/{call_id}/appointments", json=body))
        return answers[-1].status_code != 404

    await wait_until(known, within=30, what="the calendar service knows the call")
    return answers[-1]


async def voicemail(flow: Flow, caller: str) -> UUID:
    """A caller leaves a voicemail while the office is closed."""
    body = {"dialled_number": NUMBER, "caller_number": caller}
    call = expect(await flow.calls.post("/calls", json=body), 201)
    message = {"recording_ref": f"rec-{new_id().hex[:6]}", "duration_seconds": 30}
    expect(await flow.calls.post(f"/calls/{call['call_id']}/voicemail", json=message), 201)
    return UUID(call["call_id"])


async def test_friday_night_voicemails_are_called_back_on_monday_or_escalate(flow: Flow) -> None:
    await flow.set_clock(FRIDAY_21)
    first = await voicemail(flow, "+31612340001")
    second = await voicemail(flow, "+31612340002")
    listed = await get_when(
        flow.calendar, "/callbacks", lambda found: len(found) == 2,
        params={"client_id": str(flow.client_id)}, what="both callbacks are on the list",
    )  # fmt: skip
    due = {datetime.fromisoformat(item["due_at"]) for item in listed}
    assert due == {MONDAY_9}
    assert {item["assigned_to"] for item in listed} == {None}  # nobody calls back at night

    await flow.set_clock(MONDAY_9)
    assigned = await get_when(
        flow.calendar, "/callbacks", lambda found: len(found) == 2,
        params={"assigned_to": "op-anna", "status": "open"}, what="Anna has both",
    )  # fmt: skip
    by_call = {UUID(item["call_id"]): item for item in assigned}
    done = expect(
        await flow.calendar.post(
            f"/callbacks/{by_call[first]['callback_id']}/done",
            json={"comment": "offerte besproken"},
        ),
        200,
    )
    assert done["status"] == "done"

    await flow.set_clock(MONDAY_9 + timedelta(minutes=31))
    await get_when(
        flow.calendar, f"/callbacks/{by_call[second]['callback_id']}",
        lambda found: found["escalated"] and found["overdue"], what="the open one escalates",
    )  # fmt: skip
    events = await topic_events(flow.stack.world, "calendar", unique=True)
    scheduled = [e for e in events if isinstance(e, CallbackScheduled)]
    escalated = [e for e in events if isinstance(e, CallbackEscalated)]
    assert {e.call_id for e in scheduled} == {first, second}
    assert [e.call_id for e in escalated] == [second]
    assert all(e.source == "voicemail" and e.language == "nl" for e in scheduled)
    assert metric_value(flow.stack.url, "frontdesk_callbacks_overdue", language="nl") == 1
    assert metric_value(flow.stack.url, "frontdesk_callbacks_finished_total", outcome="done") == 1
    assert metric_value(flow.stack.url, "frontdesk_callbacks_escalated_total", language="nl") == 1


async def test_no_request_gets_a_server_error(flow: Flow) -> None:
    """Whatever is sent to the calendar API, never a 5xx (the calendar unlinked first: with it
    gone, a write would rightly be a 503)."""
    expect(await flow.calendar.delete(f"/clients/{flow.client_id}/calendar"), 200)
    listed = expect(await flow.calendar.get("/callbacks"), 200)
    call_id = listed[0]["call_id"]
    appointments = expect(await flow.calendar.get(f"/calls/{call_id}/appointments"), 200)
    known = {
        "client_id": str(flow.client_id),
        "call_id": call_id,
        "callback_id": listed[0]["callback_id"],
        "appointment_id": appointments[0]["appointment_id"] if appointments else call_id,
    }
    spec = (await flow.calendar.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) == 15
    for operation in operations:
        await asyncio.to_thread(
            assert_no_server_error, operation, flow.stack.url, aim=aim_path_at(known), examples=20
        )
