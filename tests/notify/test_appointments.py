"""Appointments booked, moved, cancelled or proposed from a call, in the client's messages.

The calendar's events race the calls' notes (two topics, two consumers). Service layer on the
real PostgreSQL, one rolled-back transaction per test: whichever comes first, the appointment
is in the call's mail, or in one follow-up of its own, or in the digest; never lost, never
twice. The templates: every language names what, when, where and with whom.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from libs.events import (
    CallReceived,
    ClientRegistered,
    NotificationPreferences,
    OfficeHours,
    new_id,
)
from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentMoved,
    AppointmentProposed,
    ProposedTime,
)
from libs.events.values import Language
from services.notify import commands, directory
from services.notify.compose import Composer
from services.notify.domain import appointments
from services.notify.domain.appointments import Appointment
from services.notify.domain.model import Call, Client, Note
from services.notify.domain.plan import Notification, daily_digest, on_appointment, per_call_mail
from tests.notify.conftest import NotifyStack, mails_to, notify_events, register
from tests.notify.service_layer import Service, Transport, fake_transports, rolled_back_service
from tests.support.builders import call_ended, call_received, note_recorded, registered
from tests.support.pipeline import wait_until

AMS = ZoneInfo("Europe/Amsterdam")
TUESDAY = date(2026, 3, 10)
THURSDAY = date(2026, 3, 12)
LANGUAGES: tuple[Language, ...] = ("nl", "en", "de", "fr")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """An Amsterdam wall-clock time as a UTC instant."""
    return datetime.combine(day, time(hour, minute), AMS).astimezone(UTC)


def client(mode: str = "per_call", language: Language = "en") -> ClientRegistered:
    """A client registered a month before the test's Tuesday."""
    prefs = NotificationPreferences(mode=mode, recipients=("jan@bakker.nl",))  # type: ignore[arg-type]
    return registered(at=at(TUESDAY, 8) - timedelta(days=30), notification=prefs, language=language)


def booked(call: CallReceived, when: datetime, start: datetime) -> AppointmentBooked:
    """The operator booked an hour's visit into the client's calendar from the call."""
    return AppointmentBooked(
        client_id=call.client_id, occurred_at=when, appointment_id=new_id(),
        call_id=call.call_id, uid=f"{new_id()}@frontdesk.test", start=start,
        end=start + timedelta(hours=1), title="Inspectie lekkage",
        location="Kerkstraat 1, Utrecht", attendee_name="Piet Jansen",
        attendee_phone="+31687654321",
    )  # fmt: skip


def moved(first: AppointmentBooked, when: datetime, start: datetime) -> AppointmentMoved:
    """The booked appointment moved to another hour."""
    return AppointmentMoved(
        client_id=first.client_id, occurred_at=when, appointment_id=first.appointment_id,
        call_id=first.call_id, start=start, end=start + timedelta(hours=1),
    )  # fmt: skip


def proposed(call: CallReceived, when: datetime, *starts: datetime) -> AppointmentProposed:
    """The calendar is read-only: the operator proposed these hours to the caller."""
    times = tuple(ProposedTime(start=s, end=s + timedelta(hours=1)) for s in starts)
    return AppointmentProposed(
        client_id=call.client_id, occurred_at=when, appointment_id=new_id(),
        call_id=call.call_id, title="Offerte bespreken", times=times,
        attendee_name="Piet Jansen",
    )  # fmt: skip


@pytest.fixture
def transports() -> dict[str, Transport]:
    """One fake transport per channel."""
    return fake_transports()


@pytest.fixture
async def svc(database_url: str, transports: dict[str, Transport]) -> AsyncIterator[Service]:
    """Notify on a rolled-back transaction at 09:00 on the Tuesday."""
    async with rolled_back_service(database_url, transports, at(TUESDAY, 9)) as service:
        yield service


# the race, in the service layer


@pytest.mark.infra
async def test_an_appointment_booked_before_the_note_is_named_in_the_calls_mail(
    svc: Service,
) -> None:
    registration = client()
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    booking = booked(call, at(TUESDAY, 9, 23), at(THURSDAY, 10))
    await svc.react(registration, call, booking)
    assert await svc.outgoing(registration.client_id) == [], "the note is still to come"
    await svc.react(note_recorded(call, "Lekkage in de kelder", at(TUESDAY, 9, 25)))
    [mail] = await svc.outgoing(registration.client_id)
    assert mail["dedupe_key"] == f"per_call:{call.call_id}:1"
    for text in ("Inspectie lekkage", "Thursday 2026-03-12 10:00–11:00", "Kerkstraat 1"):
        assert text in mail["body_text"]
    assert "booked in your calendar" in mail["body_text"]
    assert "Inspectie lekkage" in mail["body_html"]


@pytest.mark.infra
async def test_news_after_the_mail_went_out_is_one_follow_up_even_when_delivered_twice(
    svc: Service,
) -> None:
    registration = client()
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    await svc.react(registration, call, note_recorded(call, "Lekkage", at(TUESDAY, 9, 25)))
    booking = booked(call, at(TUESDAY, 9, 27), at(THURSDAY, 10))
    svc.clock.set(at(TUESDAY, 9, 27))
    await svc.react(booking, booking)  # the second copy: a redelivery
    mail, follow_up = await svc.outgoing(registration.client_id)
    assert "Inspectie lekkage" not in mail["body_text"]
    assert follow_up["dedupe_key"] == f"appointment:{booking.appointment_id}:{booking.event_id}"
    assert (follow_up["kind"], follow_up["recipients"]) == ("per_call", ["jan@bakker.nl"])
    assert follow_up["call_ids"] == [call.call_id]
    assert follow_up["subject"].startswith("Appointment in your calendar: Inspectie lekkage")
    later = moved(booking, at(TUESDAY, 11), at(THURSDAY, 14))
    svc.clock.set(at(TUESDAY, 11))
    await svc.react(later, later)
    *_, news = await svc.outgoing(registration.client_id)
    assert len(await svc.outgoing(registration.client_id)) == 3
    assert "Thursday 2026-03-12 14:00–15:00" in news["subject"]
    assert "moved to a new time in your calendar" in news["body_text"]


@pytest.mark.infra
async def test_a_proposal_asks_the_client_to_confirm_one_of_the_times(svc: Service) -> None:
    registration = client()
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    offer = proposed(call, at(TUESDAY, 9, 22), at(THURSDAY, 10), at(THURSDAY, 15))
    await svc.react(registration, call, offer, note_recorded(call, "Offerte", at(TUESDAY, 9, 25)))
    [mail] = await svc.outgoing(registration.client_id)
    text = mail["body_text"]
    assert "please confirm one of them with the caller" in text
    assert "Thursday 2026-03-12 10:00–11:00" in text
    assert "Thursday 2026-03-12 15:00–16:00" in text


@pytest.mark.infra
async def test_the_digest_lists_the_appointment_and_news_after_it_goes_into_the_next(
    svc: Service,
) -> None:
    registration = client("daily_digest")
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    booking = booked(call, at(TUESDAY, 9, 23), at(THURSDAY, 10))
    await svc.react(registration, call, note_recorded(call, "Lekkage", at(TUESDAY, 9, 25)))
    await svc.react(booking)
    assert await svc.outgoing(registration.client_id) == [], "digest clients get no follow-up"
    known = await directory.load_client(svc.conn, svc.schema, registration.client_id)
    assert known is not None
    run = commands.run_digest
    first = await run(svc.pool, svc.schema, svc.notifier, known, TUESDAY, at(TUESDAY, 17, 15))
    assert first.calls == 1
    cancelled = AppointmentCancelled(
        client_id=call.client_id, occurred_at=at(TUESDAY, 18), reason="Caller fixed it",
        appointment_id=booking.appointment_id, call_id=call.call_id,
    )  # fmt: skip
    await svc.react(cancelled)
    wednesday = TUESDAY + timedelta(days=1)
    second = await run(svc.pool, svc.schema, svc.notifier, known, wednesday, at(wednesday, 17, 15))
    third = await run(svc.pool, svc.schema, svc.notifier, known, THURSDAY, at(THURSDAY, 17, 15))
    assert (second.calls, third.calls) == (1, 0), "the news once, in the next digest"
    tuesday_mail, wednesday_mail = await svc.outgoing(registration.client_id)
    assert "booked in your calendar" in tuesday_mail["body_text"]
    assert "cancelled and removed from your calendar" in wednesday_mail["body_text"]
    assert "Caller fixed it" in wednesday_mail["body_text"]
    assert "Appointment news for a call reported earlier" in wednesday_mail["body_text"]


@pytest.mark.infra
async def test_a_replay_keeps_the_appointment_and_queues_nothing(svc: Service) -> None:
    registration = client()
    call = call_received(registration.client_id, at(TUESDAY, 9, 20))
    await svc.react(registration, call, note_recorded(call, "Lekkage", at(TUESDAY, 9, 25)))
    booking = booked(call, at(TUESDAY, 9, 27), at(THURSDAY, 10))
    await svc.replay(booking)
    assert len(await svc.outgoing(registration.client_id)) == 1
    count = await svc.conn.fetchval(f"SELECT count(*) FROM {svc.schema}.appointments")
    assert count == 1


# through Kafka to the real SMTP server


@pytest.mark.infra
async def test_the_mail_names_the_appointment_and_later_news_is_one_follow_up_mail(
    stack: NotifyStack,
) -> None:
    client_id, inbox = await register(stack, mode="per_call", language="en")
    call = call_received(client_id, stack.at(9, 30))
    booking = booked(call, stack.at(9, 32), stack.at(10, days=2))
    await stack.append([booking])
    await _until_kept(stack, booking.appointment_id)
    noted = stack.at(9, 34)
    events = [call, note_recorded(call, "Lekkage in de kelder", noted), call_ended(call, noted)]
    await stack.stores["calls"].append(f"call-{call.call_id}", 0, events)
    [mail] = await mails_to(stack, inbox, 1)
    for text in ("Appointment: booked in your calendar", "Inspectie lekkage", "Kerkstraat 1"):
        assert text in mail.body()
    await stack.append([moved(booking, stack.at(9, 40), stack.at(14, days=2))])
    _, follow_up = await mails_to(stack, inbox, 2)
    assert follow_up.subject.startswith("Appointment moved: Inspectie lekkage")
    assert "moved to a new time in your calendar" in follow_up.body()
    sent = await notify_events(stack, client_id, "NotificationSent", 2)
    assert all(event.call_ids == (call.call_id,) for event in sent)


async def _until_kept(stack: NotifyStack, appointment_id: UUID) -> None:
    async def kept() -> bool:
        if await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.appointments"):
            return bool(
                await stack.pool.fetchval(
                    f"SELECT count(*) FROM {stack.schema}.appointments WHERE appointment_id = $1",
                    appointment_id,
                )
            )
        return False

    await wait_until(kept, within=60, what=f"notify to keep appointment {appointment_id}")


# the domain


def test_an_appointment_folds_its_events_and_a_repeated_one_changes_nothing() -> None:
    call = call_received(new_id(), at(TUESDAY, 9))
    booking = booked(call, at(TUESDAY, 9, 3), at(THURSDAY, 10))
    first = appointments.evolve(None, booking)
    assert (first.status, first.changes, first.title) == ("booked", 1, "Inspectie lekkage")
    assert appointments.evolve(first, booking) is first
    later = appointments.evolve(first, moved(booking, at(TUESDAY, 10), at(THURSDAY, 14)))
    assert (later.status, later.changes, later.times[0].start) == ("moved", 2, at(THURSDAY, 14))
    assert later.location == "Kerkstraat 1, Utrecht", "a move keeps what it does not change"


def test_a_follow_up_only_when_the_calls_message_is_out_and_nothing_newer_waits() -> None:
    person = _client("en")
    appointment = _appointment()
    waiting = _call(appointment, reported=0)
    assert on_appointment(person, waiting, appointment, new_id()) == []
    sent = _call(appointment, reported=1)
    [mail] = on_appointment(person, sent, appointment, new_id())
    assert (mail.kind, mail.template, mail.update) == (
        "per_call",
        "appointment_update",
        appointment,
    )
    assert on_appointment(replace(person, mode="daily_digest"), sent, appointment, new_id()) == []
    assert on_appointment(person, replace(sent, imported=True), appointment, new_id()) == []


# the templates, every language


WORDS = {
    "nl": ("Afspraak", "ingepland in uw agenda", "donderdag 12-03-2026 10:00–11:00"),
    "en": ("Appointment", "booked in your calendar", "Thursday 2026-03-12 10:00–11:00"),
    "de": ("Termin", "in Ihren Kalender eingetragen", "Donnerstag 12.03.2026 10:00–11:00"),
    "fr": ("Rendez-vous", "inscrit dans votre agenda", "jeudi 12/03/2026 10:00–11:00"),
}
CONFIRM = {
    "nl": "bevestig er graag één met de beller",
    "en": "please confirm one of them with the caller",
    "de": "bitte bestätigen Sie eine davon mit dem Anrufer",
    "fr": "merci d’en confirmer un avec l’appelant",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_names_the_appointment_in_mail_digest_and_follow_up(
    language: Language,
) -> None:
    person, appointment = _client(language), _appointment()
    offer = replace(_appointment(), status="proposed", title="Offerte", times=appointment.times * 2)
    call = _call(appointment, offer)
    word, booked_text, when = WORDS[language]
    rendered = [
        Composer().render(per_call_mail(person, call)),
        Composer().render(_digest(replace(person, mode="daily_digest"), call)),
    ]
    for mail in rendered:
        for text in (f"{word}: {booked_text}", when, "Inspectie <lekkage>", "Kerkstraat 1"):
            assert text in mail.text
        assert CONFIRM[language] in mail.text
        assert mail.html is not None
        assert "Inspectie &lt;lekkage&gt;" in mail.html
    [follow_up] = on_appointment(person, replace(call, reported=1), appointment, new_id())
    news = Composer().render(follow_up)
    assert when in news.subject
    assert "Inspectie <lekkage>" in news.subject
    assert booked_text in news.text
    assert "Piet Jansen" in news.text


def _client(language: Language) -> Client:
    return Client(
        UUID(int=7), "Bakker", language, "per_call", ("jan@bakker.nl",), time(17, 15),
        OfficeHours(), registered_at=at(TUESDAY, 8) - timedelta(days=30),
    )  # fmt: skip


def _appointment() -> Appointment:
    call = call_received(UUID(int=7), at(TUESDAY, 9))
    event = booked(call, at(TUESDAY, 9, 3), at(THURSDAY, 10))
    return replace(
        appointments.evolve(None, event), call_id=UUID(int=1), title="Inspectie <lekkage>"
    )


def _call(*made: Appointment, reported: int = 0) -> Call:
    note = Note(
        "Piet Jansen", "", "+31687654321", "Lekkage", "call_back", "", "", "", at(TUESDAY, 9, 5)
    )
    return Call(
        UUID(int=1), UUID(int=7), at(TUESDAY, 9), True, "+31612345678", note=note,
        messages=1, reported=reported, appointments=made,
    )  # fmt: skip


def _digest(person: Client, call: Call) -> Notification:
    mail = daily_digest(person, TUESDAY, [call])
    assert mail is not None
    return mail
