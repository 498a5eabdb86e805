"""Events of the calendar service: the client's linked calendar, what it showed when last read,
appointments booked from calls, and the callback list.

Credentials (OAuth refresh tokens, app passwords) are never in these events: the calendar
service keeps them sealed in its own table.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from libs.events.envelope import Event, Service
from libs.events.values import (
    Count,
    Identifier,
    Language,
    LocalTime,
    Name,
    PhoneNumber,
    ShortText,
    Text,
    UtcDatetime,
    ValueObject,
    Weekday,
)

Provider = Literal["google", "caldav"]
"""Google Calendar (its API v3), or any CalDAV server (Nextcloud, iCloud, Fastmail ...)."""
Permission = Literal["read", "write"]
"""What the client allowed: only looking, or making appointments as well."""
CallbackSource = Literal["note", "voicemail"]
CallbackFailure = Literal["no_answer", "wrong_number", "caller_declined", "other"]


class CalendarEvent(Event):
    """Base of the events the calendar service emits; each belongs to one client."""

    service: ClassVar[Service] = "calendar"


class CallbackBlock(ValueObject):
    """The time the client reserved in its calendar for the callback list (local time)."""

    days: tuple[Weekday, ...] = Field(min_length=1, max_length=7)
    start: LocalTime
    end: LocalTime

    @model_validator(mode="after")
    def _ordered(self) -> CallbackBlock:
        if self.end <= self.start:
            raise ValueError("the block must end after it starts")
        if len(set(self.days)) != len(self.days):
            raise ValueError("each day once")
        return self


class CalendarLinked(CalendarEvent):
    """The client's calendar was linked (or linked anew, replacing the previous link)."""

    type: Literal["CalendarLinked"] = "CalendarLinked"
    provider: Provider
    calendar: ShortText = Field(
        min_length=1, description="The calendar's collection URL (CalDAV) or calendar id (Google)"
    )
    account: ShortText = Field(default="", description="The user name or account, not secret")
    permission: Permission
    show_titles: bool = Field(description="Whether operators may see the appointments' titles")
    callback_block: CallbackBlock | None = None


class CalendarPermissionChanged(CalendarEvent):
    """The client changed what the bureau may do with its calendar, or what operators see."""

    type: Literal["CalendarPermissionChanged"] = "CalendarPermissionChanged"
    permission: Permission
    show_titles: bool
    callback_block: CallbackBlock | None = None


class CalendarUnlinked(CalendarEvent):
    """The calendar is no longer linked; its credentials were destroyed."""

    type: Literal["CalendarUnlinked"] = "CalendarUnlinked"


class BusySpan(ValueObject):
    """A stretch of busy time as the calendar showed it; a title only where the client allows."""

    start: UtcDatetime
    end: UtcDatetime
    title: ShortText = ""

    @model_validator(mode="after")
    def _ordered(self) -> BusySpan:
        if self.end <= self.start:
            raise ValueError("a busy span must end after it starts")
        return self


class CalendarObserved(CalendarEvent):
    """What the calendar showed when it was read: the busy time of the window read.

    Recorded when it differs from the previous observation, and now and then while nothing
    changes, so that readers know how fresh their last known state is.
    """

    type: Literal["CalendarObserved"] = "CalendarObserved"
    read_at: UtcDatetime
    window_start: UtcDatetime
    window_end: UtcDatetime
    busy: tuple[BusySpan, ...] = Field(default=(), max_length=200)

    @model_validator(mode="after")
    def _window_ordered(self) -> CalendarObserved:
        if self.window_end <= self.window_start:
            raise ValueError("the window read must end after it starts")
        return self


class CalendarUnreachable(CalendarEvent):
    """The calendar could not be read; the last observation is what is known until it can."""

    type: Literal["CalendarUnreachable"] = "CalendarUnreachable"
    since: UtcDatetime
    error: ShortText


class AppointmentEvent(CalendarEvent):
    """Base of an appointment's events; one stream per appointment."""

    appointment_id: UUID
    call_id: UUID


class AppointmentBooked(AppointmentEvent):
    """The operator booked an appointment from a call; it is in the client's calendar."""

    type: Literal["AppointmentBooked"] = "AppointmentBooked"
    uid: ShortText = Field(min_length=1, description="The entry's iCalendar UID")
    start: UtcDatetime
    end: UtcDatetime
    title: Name
    location: ShortText = ""
    attendee_name: ShortText = ""
    attendee_email: ShortText = ""
    attendee_phone: PhoneNumber | None = None


class AppointmentMoved(AppointmentEvent):
    """A booked appointment was moved to another time."""

    type: Literal["AppointmentMoved"] = "AppointmentMoved"
    start: UtcDatetime
    end: UtcDatetime


class AppointmentCancelled(AppointmentEvent):
    """A booked appointment was cancelled and removed from the client's calendar."""

    type: Literal["AppointmentCancelled"] = "AppointmentCancelled"
    reason: ShortText = ""


class ProposedTime(ValueObject):
    """A time the operator proposed to the caller."""

    start: UtcDatetime
    end: UtcDatetime


class AppointmentProposed(AppointmentEvent):
    """The client's calendar is read-only: the operator proposed times; the client confirms."""

    type: Literal["AppointmentProposed"] = "AppointmentProposed"
    title: Name
    times: tuple[ProposedTime, ...] = Field(min_length=1, max_length=5)
    attendee_name: ShortText = ""
    attendee_phone: PhoneNumber | None = None


class CallbackEvent(CalendarEvent):
    """Base of a callback's events; one stream per callback."""

    callback_id: UUID
    call_id: UUID


class CallbackScheduled(CallbackEvent):
    """A caller is to be called back: due at the next opening of the client's office."""

    type: Literal["CallbackScheduled"] = "CallbackScheduled"
    source: CallbackSource
    language: Language
    caller_number: PhoneNumber
    caller_name: ShortText = ""
    detail: Text = ""
    due_at: UtcDatetime


class CallbackAssigned(CallbackEvent):
    """The callback was given to an operator who speaks the caller's language."""

    type: Literal["CallbackAssigned"] = "CallbackAssigned"
    operator_id: Identifier


class CallbackDone(CallbackEvent):
    """The caller was called back."""

    type: Literal["CallbackDone"] = "CallbackDone"
    operator_id: Identifier | None = None
    comment: ShortText = ""


class CallbackFailed(CallbackEvent):
    """Calling back did not succeed, for a reason; the callback leaves the list."""

    type: Literal["CallbackFailed"] = "CallbackFailed"
    reason: CallbackFailure
    comment: ShortText = ""


class CallbackEscalated(CallbackEvent):
    """The callback is overdue: the bureau's desk is alerted and anyone may take it."""

    type: Literal["CallbackEscalated"] = "CallbackEscalated"
    overdue_since: UtcDatetime
    assigned_to: Identifier | None = None
    open_minutes: Count = 0


CALENDAR_EVENTS: tuple[type[CalendarEvent], ...] = (
    CalendarLinked,
    CalendarPermissionChanged,
    CalendarUnlinked,
    CalendarObserved,
    CalendarUnreachable,
    AppointmentBooked,
    AppointmentMoved,
    AppointmentCancelled,
    AppointmentProposed,
    CallbackScheduled,
    CallbackAssigned,
    CallbackDone,
    CallbackFailed,
    CallbackEscalated,
)
