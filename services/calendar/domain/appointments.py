"""An appointment the operator books in a client's calendar from a call.

Its iCalendar UID is derived from the appointment's id, so writing it twice (a retry, a
crash between writing and recording) replaces the one entry instead of adding a second, and
moving or cancelling finds it again. Booking is checked against the calendar's busy time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from libs.availability import Interval
from libs.errors import Conflict, Rejected

UID_DOMAIN = "frontdesk"
LONGEST = timedelta(hours=12)
MAX_TITLE = 200
MAX_TEXT = 2000


@dataclass(frozen=True)
class Attendee:
    """The caller, invited to the appointment when an e-mail address is known."""

    name: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Appointment:
    """What is written into the client's calendar."""

    appointment_id: UUID
    when: Interval
    title: str
    location: str = ""
    description: str = ""
    attendee: Attendee | None = None

    @property
    def uid(self) -> str:
        """The entry's iCalendar UID: the same for every write of this appointment."""
        return f"{self.appointment_id}@{UID_DOMAIN}"


def checked(appointment: Appointment) -> Appointment:
    """The appointment if it may be written; Rejected with the reason if not."""
    if appointment.when.end - appointment.when.start > LONGEST:
        raise Rejected("an appointment lasts at most 12 hours")
    title = appointment.title.strip()
    if not title or len(title) > MAX_TITLE:
        raise Rejected(f"an appointment needs a title of 1 to {MAX_TITLE} characters")
    if len(appointment.location) > MAX_TITLE or len(appointment.description) > MAX_TEXT:
        raise Rejected("the appointment's place or description is too long")
    for text in (title, appointment.location):
        if any(ch in text for ch in "\r\n"):
            raise Rejected("an appointment's title and place are one line each")
    return appointment


def fits(appointment: Appointment, busy: Sequence[Interval]) -> None:
    """Conflict unless the appointment's time is free.

    A move passes the busy time without the appointment's own entry (CalendarPort.busy's
    `ignoring`), so an appointment never clashes with itself.
    """
    clash = next((b for b in busy if b.overlaps(appointment.when)), None)
    if clash is not None:
        raise Conflict(
            f"the calendar is busy from {clash.start.isoformat()} to {clash.end.isoformat()}"
        )
