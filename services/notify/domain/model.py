"""What notify knows of a client and of a call, folded from intake's and calls' events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Literal
from uuid import UUID

from libs.events.calls import CallEvent, CallReceived, NoteRecorded, VoicemailRecorded
from libs.events.envelope import Event
from libs.events.intake import (
    ClientOffboarded,
    ClientRegistered,
    NotificationPreferencesChanged,
    OfficeHoursChanged,
)
from libs.events.notify import NotificationChannel
from libs.events.values import Language, OfficeHours
from services.notify.domain.appointments import Appointment
from services.notify.domain.schedule import next_opening

Mode = Literal["daily_digest", "per_call"]
Channel = NotificationChannel
"""How a notification travels: SMTP, the SMS provider, or a chat incoming webhook."""


@dataclass(frozen=True)
class Client:
    """A client as notify needs it: language, how and to whom messages go, hours, registration."""

    client_id: UUID
    name: str
    language: Language
    mode: Mode
    recipients: tuple[str, ...]
    digest_time: time
    office_hours: OfficeHours
    registered_at: datetime
    active: bool = True


def client_registered(event: ClientRegistered) -> Client:
    """A new client, with its notification preferences and office hours."""
    prefs = event.notification
    return Client(
        client_id=event.client_id,
        name=event.name,
        language=event.language,
        mode=prefs.mode,
        recipients=prefs.recipients,
        digest_time=prefs.digest_time,
        office_hours=event.office_hours,
        registered_at=event.occurred_at,
    )


def evolve_client(client: Client, event: Event) -> Client:
    """The client after one more of intake's events (others leave it unchanged)."""
    match event:
        case NotificationPreferencesChanged(notification=prefs):
            return replace(
                client,
                mode=prefs.mode,
                recipients=prefs.recipients,
                digest_time=prefs.digest_time,
            )
        case OfficeHoursChanged(office_hours=hours):
            return replace(client, office_hours=hours)
        case ClientOffboarded():
            return replace(client, active=False)
    return client


@dataclass(frozen=True)
class Note:
    """The operator's message for the client: everything recorded about the call."""

    caller_name: str
    caller_company: str
    caller_number: str | None
    message: str
    follow_up: str
    follow_up_detail: str
    actions_taken: str
    information_given: str
    recorded_at: datetime


@dataclass(frozen=True)
class Voicemail:
    """A voicemail the caller left, with the summary where one was made."""

    recording_ref: str
    duration_seconds: int
    summary: str
    recorded_at: datetime


@dataclass(frozen=True)
class Call:
    """One call, its latest message and appointments; `reported` counts messages sent on."""

    call_id: UUID
    client_id: UUID
    received_at: datetime
    office_open: bool
    caller_number: str | None = None
    correlation_id: UUID | None = None
    note: Note | None = None
    voicemail: Voicemail | None = None
    messages: int = 0
    reported: int = 0
    deliver_after: datetime | None = None
    imported: bool = False
    """Staff imported the call from history: its messages are on record, never announced."""
    appointments: tuple[Appointment, ...] = ()
    """The appointments booked or proposed from the call, in the order they were first made."""

    @property
    def needs_report(self) -> bool:
        """A note or voicemail was recorded that no notification has carried yet."""
        return self.messages > self.reported

    @property
    def appointment_news(self) -> bool:
        """An appointment of the call changed in a way no notification has carried yet."""
        return any(appointment.needs_report for appointment in self.appointments)

    @property
    def held(self) -> bool:
        """An after-hours voicemail without a note: it waits for the next working day."""
        return self.note is None and self.voicemail is not None and not self.office_open

    @property
    def message_at(self) -> datetime:
        """When the latest message was recorded (the call's arrival before any)."""
        times = [m.recorded_at for m in (self.note, self.voicemail) if m is not None]
        return max(times, default=self.received_at)


def call_received(event: CallReceived) -> Call:
    """A call arrived: when, from whom, and whether the office was open."""
    return Call(
        call_id=event.call_id,
        client_id=event.client_id,
        received_at=event.received_at,
        office_open=event.office_open,
        caller_number=event.caller_number,
        correlation_id=event.correlation_id,
        imported=event.imported,
    )


def received(known: Call | None, event: CallReceived) -> Call | None:
    """The call to keep once its CallReceived arrives; None when what is kept stays as it is.

    A call first seen through a message keeps that message and learns whether it was imported.
    """
    if known is None:
        return call_received(event)
    if event.imported and not known.imported:
        return replace(known, imported=True)
    return None


def evolve_call(call: Call | None, event: Event, hours: OfficeHours) -> Call:
    """The call after a note or voicemail; a message for an unseen call starts one."""
    if isinstance(event, CallReceived):
        return call_received(event)
    if call is None:
        call = _unseen_call(event)
    match event:
        case NoteRecorded():
            return replace(call, note=note_of(event), messages=call.messages + 1)
        case VoicemailRecorded():
            return _with_voicemail(call, event, hours)
    return call


def _unseen_call(event: Event) -> Call:
    """A call whose CallReceived notify never saw: taken as received in office hours."""
    if not isinstance(event, CallEvent):
        raise TypeError(f"{event.type} is not an event of a call")
    return Call(event.call_id, event.client_id, event.occurred_at, office_open=True)


def note_of(event: NoteRecorded) -> Note:
    """The note an event records."""
    return Note(
        caller_name=event.caller_name,
        caller_company=event.caller_company,
        caller_number=event.caller_number,
        message=event.message,
        follow_up=event.follow_up,
        follow_up_detail=event.follow_up_detail,
        actions_taken=event.actions_taken,
        information_given=event.information_given,
        recorded_at=event.occurred_at,
    )


def _with_voicemail(call: Call, event: VoicemailRecorded, hours: OfficeHours) -> Call:
    voicemail = Voicemail(
        event.recording_ref, event.duration_seconds, event.summary, event.occurred_at
    )
    call = replace(call, voicemail=voicemail, messages=call.messages + 1)
    if not call.held:
        return call
    return replace(call, deliver_after=next_opening(hours, call.received_at))
