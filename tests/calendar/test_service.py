"""The calendar service's layer in-process: linking, reading, booking, the callback list and
its block, on a real PostgreSQL transaction rolled back after each test and a real Radicale.
No process and no Kafka: the clock is whatever instant a test hands in.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.availability import Interval
from libs.errors import Conflict, Forbidden, NotFound, Rejected
from libs.events import Event
from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMoved,
    CalendarLinked,
    CalendarObserved,
    CalendarUnreachable,
    CallbackAssigned,
    CallbackBlock,
    CallbackDone,
    CallbackEscalated,
    CallbackScheduled,
)
from libs.events.calls import VoicemailRecorded
from libs.events.envelope import Actor
from libs.events.routing import OperatorPresenceChanged, OperatorRegistered
from libs.platform.auth import Principal
from libs.platform.consumer import HandlerContext
from libs.platform.sealed import SecretBox, SecretUnreadable, box_from_json, new_key_text
from services.calendar import appointments, callbacks, commands, directory, linking, reactions
from services.calendar.domain.appointments import Appointment, Attendee
from services.calendar.domain.block import block_id
from services.calendar.domain.links import ChangePermission, LinkCalendar, Unlink
from services.calendar.migrations import MIGRATIONS
from services.calendar.settings import CalendarSettings
from services.calendar.workers import callbacks as callback_timers
from services.calendar.workers.observe import observe_due
from tests.calendar.conftest import FreshCalendar
from tests.support.builders import book_revised, call_received, note_recorded, registered
from tests.support.clock import weekday_hours
from tests.support.google_calendar import (
    CALENDAR_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeGoogleCalendar,
)
from tests.support.radicale import PASSWORD, USER
from tests.support.rollback import RolledBackStore, rolled_back_store
from tests.support.stack import Infrastructure

pytestmark = [pytest.mark.infra]

FRIDAY_21 = datetime(2026, 1, 9, 20, 0, tzinfo=UTC)  # Friday 21:00 in Amsterdam
MONDAY_9 = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)  # Monday 09:00 in Amsterdam
TUESDAY_10 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Amsterdam
CONFIG = CalendarSettings(allow_http_calendars=True, outbound_allow="127.0.0.1")
STAFF = Actor(kind="staff", id="staff-1")
WEEKDAYS = weekday_hours(9, 17)


@pytest.fixture
async def store(infra: Infrastructure) -> AsyncIterator[RolledBackStore]:
    """The calendar's tables in a schema of their own, rolled back after the test."""
    async with rolled_back_store(infra.dsn, "calendar", MIGRATIONS) as found:
        yield found


@pytest.fixture(scope="module")
def box() -> SecretBox:
    """The service's secret keys."""
    return box_from_json(json.dumps([{"id": "k1", "key": new_key_text()}]))


def operator(subject: str = "op-anna") -> Principal:
    """An operator signed in."""
    return Principal(subject=subject, name=subject, role="operator", client_id=None, via="token")


async def client(store: RolledBackStore, after_hours: str = "call_back") -> UUID:
    """A client the service learned of from intake: weekday hours 9-17, after-hours callbacks."""
    signed_up = registered(at=TUESDAY_10 - timedelta(days=30), office_hours=WEEKDAYS)
    book = book_revised(signed_up.client_id, at=signed_up.occurred_at, after_hours=after_hours)
    await directory.client_registered(signed_up, store.conn, store.schema)
    await directory.book_revised(book, store.conn, store.schema)
    return signed_up.client_id


async def link(
    store: RolledBackStore, box: SecretBox, client_id: UUID, calendar: FreshCalendar,
    permission: str = "write", **fields: Any,
) -> dict[str, Any]:  # fmt: skip
    """Link the test's Radicale calendar to the client."""
    command = LinkCalendar(
        client_id=client_id, at=TUESDAY_10, actor=STAFF, provider="caldav",
        calendar=calendar.url, account=USER, permission=permission,  # type: ignore[arg-type]
        show_titles=fields.pop("show_titles", True), **fields,
    )  # fmt: skip
    await commands.verify(command, PASSWORD, CONFIG)
    return await commands.change_link(store, command, box=box, secret=PASSWORD)


async def stream(store: RolledBackStore, stream_id: str) -> list[Event]:
    """The events of one of the service's streams."""
    return [stored.event for stored in await store.load(stream_id)]


async def react(store: RolledBackStore, event: Event, at: datetime) -> None:
    """Hand a calls event to the service's reaction, as its consumer would."""
    ctx = HandlerContext(conn=store.conn, store=store, now=lambda: at)
    await reactions.CALLS[event.type](event, ctx)


async def roster(store: RolledBackStore, *operators: tuple[str, tuple[str, ...], str]) -> None:
    """Operators on the roster with their languages and presence."""
    for operator_id, languages, presence in operators:
        at = FRIDAY_21 - timedelta(days=1)
        joined = OperatorRegistered(
            occurred_at=at, operator_id=operator_id, name=operator_id, languages=languages
        )
        await directory.operator_registered(joined, store.conn, store.schema)
        if presence != "offline":
            changed = OperatorPresenceChanged(
                occurred_at=at, operator_id=operator_id, presence=presence, previous="offline"
            )  # type: ignore[arg-type]
            await directory.presence_changed(changed, store.conn, store.schema)


# ---------------------------------------------------------------------- linking and reading


async def test_linking_checks_the_calendar_seals_the_password_and_records_no_secret(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    view = await link(store, box, client_id, calendar)
    assert view["linked"]
    assert view["permission"] == "write"
    assert "secret" not in view
    [linked] = await stream(store, linking.stream(client_id))
    assert isinstance(linked, CalendarLinked)
    assert PASSWORD not in linked.model_dump_json()
    row = await linking.get(store.conn, store.schema, client_id)
    assert row is not None
    assert PASSWORD not in row["secret"]
    assert box.open(row["secret"], linking.secret_context(client_id)) == PASSWORD
    with pytest.raises(SecretUnreadable):  # bound to the client: it opens for no other link
        box.open(row["secret"], linking.secret_context(UUID(int=1)))


async def test_a_wrong_password_or_a_url_that_is_not_allowed_is_refused_before_linking(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    wrong = LinkCalendar(
        client_id=client_id, at=TUESDAY_10, actor=STAFF, provider="caldav",
        calendar=calendar.url, account=USER, permission="read", show_titles=False,
    )  # fmt: skip
    with pytest.raises(Rejected, match="could not be read"):
        await commands.verify(wrong, "not-the-password", CONFIG)
    with pytest.raises(Rejected, match="https"):
        await commands.verify(wrong, PASSWORD, CalendarSettings())
    strict = CalendarSettings(allow_http_calendars=True)
    with pytest.raises(Rejected, match="not allowed"):
        await commands.verify(wrong, PASSWORD, strict)
    assert await linking.get(store.conn, store.schema, client_id) is None


async def test_a_read_is_recorded_when_the_calendar_changed_or_the_last_record_got_old(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    meeting = Appointment(
        appointment_id=UUID(int=5),
        when=Interval(TUESDAY_10 + timedelta(hours=1), TUESDAY_10 + timedelta(hours=2)),
        title="Spreekuur",
    )
    await linking.adapter(
        await linking.get(store.conn, store.schema, client_id),
        box,
        CONFIG,  # type: ignore[arg-type]
    ).put(meeting)
    assert await observe_due(store, TUESDAY_10, CONFIG, box) == 1
    assert await observe_due(store, TUESDAY_10 + timedelta(seconds=30), CONFIG, box) == 0
    await observe_due(store, TUESDAY_10 + timedelta(seconds=61), CONFIG, box)  # unchanged
    await observe_due(store, TUESDAY_10 + timedelta(seconds=300), CONFIG, box)  # heartbeat
    seen = await stream(store, linking.observations_stream(client_id))
    assert [type(e) for e in seen] == [CalendarObserved, CalendarObserved]
    first = seen[0]
    assert isinstance(first, CalendarObserved)
    assert [(s.start, s.end, s.title) for s in first.busy] == [
        (meeting.when.start, meeting.when.end, "Spreekuur")
    ]
    hidden = ChangePermission(
        client_id=client_id, at=TUESDAY_10, actor=STAFF, permission="write", show_titles=False,
        callback_block=None,
    )  # fmt: skip
    await commands.change_link(store, hidden)
    await observe_due(store, TUESDAY_10 + timedelta(seconds=400), CONFIG, box)
    last = (await stream(store, linking.observations_stream(client_id)))[-1]
    assert isinstance(last, CalendarObserved)
    assert [s.title for s in last.busy] == [""]


async def test_an_unreachable_calendar_is_recorded_once_and_its_last_state_kept(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    await observe_due(store, TUESDAY_10, CONFIG, box)
    await store.conn.execute(  # the password was changed at the provider
        f"UPDATE {store.schema}.links SET secret = $2 WHERE client_id = $1",
        client_id, box.seal("changed", linking.secret_context(client_id)),
    )  # fmt: skip
    for minutes in (2, 4):
        await observe_due(store, TUESDAY_10 + timedelta(minutes=minutes), CONFIG, box)
    seen = await stream(store, linking.observations_stream(client_id))
    assert [type(e) for e in seen] == [CalendarObserved, CalendarUnreachable]
    row = await linking.get(store.conn, store.schema, client_id)
    assert row is not None
    assert row["observed"] is not None
    assert row["last_read_ok"] is False
    assert row["unreachable_since"] == TUESDAY_10 + timedelta(minutes=2)


async def test_unlinking_destroys_the_credential(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    view = await commands.change_link(
        store, Unlink(client_id=client_id, at=TUESDAY_10, actor=STAFF)
    )
    row = await linking.get(store.conn, store.schema, client_id)
    assert not view["linked"]
    assert row is not None
    assert row["secret"] is None
    with pytest.raises(NotFound):
        await commands.change_link(store, Unlink(client_id=client_id, at=TUESDAY_10, actor=STAFF))


# ---------------------------------------------------------------------- appointments


async def a_call(store: RolledBackStore, client_id: UUID, at: datetime = TUESDAY_10) -> UUID:
    call = call_received(client_id, at)
    await react(store, call, at)
    return call.call_id


def draft(start: datetime, minutes: int = 30, title: str = "Intake Jansen") -> Appointment:
    return Appointment(
        appointment_id=UUID(int=0), when=Interval(start, start + timedelta(minutes=minutes)),
        title=title, location="Praktijk", attendee=Attendee(name="J. Jansen", phone="+31612345678"),
    )  # fmt: skip


async def test_booking_writes_the_calendar_once_and_records_it(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    call_id = await a_call(store, client_id)
    start = TUESDAY_10 + timedelta(days=1)
    booked = await appointments.book(
        store, box, CONFIG, call_id, draft(start), actor=STAFF, now=TUESDAY_10
    )
    again = await appointments.book(
        store, box, CONFIG, call_id, draft(start), actor=STAFF, now=TUESDAY_10
    )
    assert again["appointment_id"] == booked["appointment_id"]
    assert await calendar.count() == 1
    stored = await calendar.stored(booked["uid"])
    assert str(stored["SUMMARY"]) == "Intake Jansen"
    assert str(stored["LOCATION"]) == "Praktijk"
    [event] = await stream(store, appointments.stream(booked["appointment_id"]))
    assert isinstance(event, AppointmentBooked)
    assert event.call_id == call_id
    assert event.uid == booked["uid"] == f"{booked['appointment_id']}@frontdesk"


async def test_a_booking_that_clashes_or_a_read_only_calendar_is_refused(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    call_id = await a_call(store, client_id)
    start = TUESDAY_10 + timedelta(days=1)
    await appointments.book(store, box, CONFIG, call_id, draft(start), actor=STAFF, now=TUESDAY_10)
    overlapping = draft(start + timedelta(minutes=15), title="Other")
    with pytest.raises(Conflict, match="busy"):
        await appointments.book(
            store, box, CONFIG, call_id, overlapping, actor=STAFF, now=TUESDAY_10
        )
    read_only = ChangePermission(
        client_id=client_id, at=TUESDAY_10, actor=STAFF, permission="read", show_titles=True,
        callback_block=None,
    )  # fmt: skip
    await commands.change_link(store, read_only)
    later = draft(start + timedelta(hours=3))
    with pytest.raises(Conflict, match="read-only"):
        await appointments.book(store, box, CONFIG, call_id, later, actor=STAFF, now=TUESDAY_10)
    assert await calendar.count() == 1


async def test_moving_and_cancelling_a_booked_appointment(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    await link(store, box, client_id, calendar)
    call_id = await a_call(store, client_id)
    start = TUESDAY_10 + timedelta(days=1)
    booked = await appointments.book(
        store, box, CONFIG, call_id, draft(start), actor=STAFF, now=TUESDAY_10
    )
    later = Interval(
        start + timedelta(minutes=15), start + timedelta(minutes=45)
    )  # overlaps itself
    moved = await appointments.move(
        store, box, CONFIG, booked["appointment_id"], later, actor=STAFF, now=TUESDAY_10
    )
    assert moved["starts_at"] == later.start
    assert await calendar.count() == 1
    stored = await calendar.stored(booked["uid"])
    assert stored.decoded("DTSTART") == later.start
    cancelled = await appointments.cancel(
        store, box, CONFIG, booked["appointment_id"], "caller cancelled", actor=STAFF,
        now=TUESDAY_10,
    )  # fmt: skip
    assert cancelled["status"] == "cancelled"
    assert await calendar.count() == 0
    events = await stream(store, appointments.stream(booked["appointment_id"]))
    assert [type(e) for e in events] == [AppointmentBooked, AppointmentMoved, AppointmentCancelled]
    with pytest.raises(Conflict):
        await appointments.move(
            store, box, CONFIG, booked["appointment_id"], later, actor=STAFF, now=TUESDAY_10
        )


# ---------------------------------------------------------------------- callbacks


async def voicemail_friday_night(store: RolledBackStore, client_id: UUID) -> UUID:
    call = call_received(client_id, FRIDAY_21, office_open=False)
    await react(store, call, FRIDAY_21)
    voicemail = VoicemailRecorded(
        client_id=client_id, occurred_at=FRIDAY_21 + timedelta(minutes=1), call_id=call.call_id,
        recording_ref="rec-1", duration_seconds=40, summary="Please call back about the quote",
    )  # fmt: skip
    await react(store, voicemail, voicemail.occurred_at)
    await react(store, voicemail, voicemail.occurred_at)  # delivered twice
    return call.call_id


async def test_an_after_hours_voicemail_is_a_callback_due_at_the_next_opening(
    store: RolledBackStore,
) -> None:
    client_id = await client(store)
    call_id = await voicemail_friday_night(store, client_id)
    [row] = await callbacks.listing(
        store.conn, store.schema, client_id=client_id, status=None, assigned_to=None,
        language=None, limit=10,
    )  # fmt: skip
    assert row["call_id"] == call_id
    assert row["due_at"] == MONDAY_9
    assert row["status"] == "open"
    [scheduled] = await stream(store, callbacks.stream(row["callback_id"]))
    assert isinstance(scheduled, CallbackScheduled)
    assert scheduled.source == "voicemail"


async def test_no_callback_where_the_book_says_email_or_the_office_was_open(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, after_hours="email_summary")
    await voicemail_friday_night(store, client_id)
    open_call = call_received(client_id, TUESDAY_10)
    await react(store, open_call, TUESDAY_10)
    listed = await callbacks.listing(
        store.conn, store.schema, client_id=client_id, status=None, assigned_to=None,
        language=None, limit=10,
    )  # fmt: skip
    assert listed == []


async def test_a_note_asking_for_a_call_back_is_due_at_once_when_the_office_is_open(
    store: RolledBackStore,
) -> None:
    client_id = await client(store, after_hours="email_summary")
    call = call_received(client_id, TUESDAY_10)
    await react(store, call, TUESDAY_10)
    note = note_recorded(call, "Wil teruggebeld worden", TUESDAY_10, follow_up="call_back")
    await react(store, note, TUESDAY_10)
    [row] = await callbacks.listing(
        store.conn, store.schema, client_id=client_id, status="open", assigned_to=None,
        language=None, limit=10,
    )  # fmt: skip
    assert row["due_at"] == TUESDAY_10
    assert row["source"] == "note"


async def test_due_callbacks_go_to_a_speaker_on_duty_then_done_or_escalated(
    store: RolledBackStore,
) -> None:
    client_id = await client(store)
    await roster(store, ("op-anna", ("nl",), "available"), ("op-bob", ("en",), "available"))
    await voicemail_friday_night(store, client_id)
    second = await client(store)
    await voicemail_friday_night(store, second)
    assert await callbacks.assign_due(store, MONDAY_9 - timedelta(minutes=1)) == 0
    assert await callbacks.assign_due(store, MONDAY_9) == 2
    rows = await callbacks.listing(
        store.conn, store.schema, client_id=None, status="open", assigned_to="op-anna",
        language="nl", limit=10,
    )  # fmt: skip
    assert len(rows) == 2  # only Anna speaks Dutch
    first, late = rows
    with pytest.raises(Forbidden):
        await callbacks.assign(
            store, first["callback_id"], "op-anna", caller=operator("op-bob"), now=MONDAY_9
        )
    done = await callbacks.finish(
        store, first["callback_id"], "done", caller=operator(), now=MONDAY_9, comment="reached"
    )
    assert done["status"] == "done"
    with pytest.raises(Conflict):
        await callbacks.finish(store, first["callback_id"], "done", caller=operator(), now=MONDAY_9)
    grace = CONFIG.callback_grace
    assert (
        await callbacks.escalate_overdue(store, MONDAY_9 + grace - timedelta(seconds=1), grace) == 0
    )
    assert await callbacks.escalate_overdue(store, MONDAY_9 + grace, grace) == 1
    assert await callbacks.escalate_overdue(store, MONDAY_9 + 2 * grace, grace) == 0
    events = await stream(store, callbacks.stream(late["callback_id"]))
    assert [type(e) for e in events] == [CallbackScheduled, CallbackAssigned, CallbackEscalated]
    done_events = await stream(store, callbacks.stream(first["callback_id"]))
    assert isinstance(done_events[-1], CallbackDone)
    assert done_events[-1].operator_id == "op-anna"
    with pytest.raises(Rejected):
        await callbacks.finish(
            store, late["callback_id"], "failed", caller=operator(), now=MONDAY_9
        )


async def test_nobody_on_duty_who_speaks_it_leaves_the_callback_waiting(
    store: RolledBackStore,
) -> None:
    client_id = await client(store)
    await roster(store, ("op-bob", ("en",), "available"), ("op-anna", ("nl",), "offline"))
    await voicemail_friday_night(store, client_id)
    assert await callbacks.assign_due(store, MONDAY_9) == 0


# ---------------------------------------------------------------------- the callback block


async def test_open_callbacks_are_kept_in_the_reserved_block_and_removed_when_done(
    store: RolledBackStore, box: SecretBox, calendar: FreshCalendar
) -> None:
    client_id = await client(store)
    reserved = CallbackBlock(days=("mon", "tue"), start=time(16), end=time(17))
    await link(store, box, client_id, calendar, callback_block=reserved)
    await roster(store, ("op-anna", ("nl",), "available"))
    await voicemail_friday_night(store, client_id)
    await callback_timers.step(store, MONDAY_9, CONFIG, box)
    uid = f"{block_id(client_id)}@frontdesk"
    entry = await calendar.stored(uid)
    assert str(entry["SUMMARY"]) == "Terugbellijst (1)"
    assert "+31612345678" in str(entry["DESCRIPTION"])
    monday_16 = datetime(2026, 1, 12, 15, 0, tzinfo=UTC)
    assert entry.decoded("DTSTART") == monday_16
    await callback_timers.step(store, monday_16 + timedelta(hours=1), CONFIG, box)  # passed
    moved = await calendar.stored(uid)
    assert moved.decoded("DTSTART") == monday_16 + timedelta(days=1)
    [row] = await callbacks.listing(
        store.conn, store.schema, client_id=client_id, status="open", assigned_to=None,
        language=None, limit=10,
    )  # fmt: skip
    await callbacks.finish(store, row["callback_id"], "done", caller=operator(), now=MONDAY_9)
    await callback_timers.step(store, MONDAY_9 + timedelta(hours=9), CONFIG, box)
    assert await calendar.count() == 0


# ---------------------------------------------------------------------- a Google calendar


async def test_a_google_calendar_is_linked_read_and_booked_through_the_same_port(
    store: RolledBackStore, box: SecretBox
) -> None:
    with FakeGoogleCalendar() as google:
        config = CalendarSettings(
            google_token_uri=google.token_uri, google_api_root=google.api_root,
            google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET,
        )  # fmt: skip
        client_id = await client(store)
        command = LinkCalendar(
            client_id=client_id, at=TUESDAY_10, actor=STAFF, provider="google",
            calendar=CALENDAR_ID, account="praktijk@example.com", permission="write",
            show_titles=False,
        )  # fmt: skip
        with pytest.raises(Rejected, match="could not be read"):
            await commands.verify(command, "not-the-refresh-token", config)
        await commands.verify(command, REFRESH_TOKEN, config)
        await commands.change_link(store, command, box=box, secret=REFRESH_TOKEN)
        call_id = await a_call(store, client_id)
        start = TUESDAY_10 + timedelta(days=1)
        booked = await appointments.book(
            store, box, config, call_id, draft(start), actor=STAFF, now=TUESDAY_10
        )
        await observe_due(store, TUESDAY_10, config, box)
        [seen] = await stream(store, linking.observations_stream(client_id))
        assert isinstance(seen, CalendarObserved)
        assert [(s.start, s.end, s.title) for s in seen.busy] == [
            (start, start + timedelta(minutes=30), "")
        ]
        cancelled = await appointments.cancel(
            store, box, config, booked["appointment_id"], "", actor=STAFF, now=TUESDAY_10
        )
        assert cancelled["status"] == "cancelled"
        assert google.violations == [], "requests or answers outside Google's contract"
