"""What notify knows of the appointments booked (or proposed) from a call, folded from the
calendar service's events. Pure.

An appointment counts its `changes` (one per event applied) and, like a call's messages,
how many of them a notification carried (`reported`, read from the outgoing queue): a change
no notification carried yet is news the client still has to hear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from libs.events.calendar import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEvent,
    AppointmentMoved,
    AppointmentProposed,
)

Status = Literal["booked", "moved", "cancelled", "proposed"]


@dataclass(frozen=True)
class Slot:
    """A stretch of time an appointment takes (or is proposed for), in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Appointment:
    """An appointment of one call as the client should hear of it: what, when, where, with whom.

    `times` holds the booked time (one slot) or, for a proposal, the times proposed.
    """

    appointment_id: UUID
    call_id: UUID
    client_id: UUID
    status: Status
    times: tuple[Slot, ...]
    changed_at: datetime
    last_event_id: UUID
    title: str = ""
    location: str = ""
    attendee_name: str = ""
    attendee_email: str = ""
    attendee_phone: str | None = None
    reason: str = ""
    changes: int = 1
    reported: int = 0

    @property
    def needs_report(self) -> bool:
        """A change was recorded that no notification has carried yet."""
        return self.changes > self.reported


def evolve(known: Appointment | None, event: AppointmentEvent) -> Appointment:
    """The appointment after one more of its events; a repeated event changes nothing."""
    if known is not None and known.last_event_id == event.event_id:
        return known
    base = known or _unseen(event)
    changed = replace(
        base,
        changed_at=event.occurred_at,
        last_event_id=event.event_id,
        changes=base.changes + 1 if known else 1,
    )
    return _apply(changed, event)


def _apply(appointment: Appointment, event: AppointmentEvent) -> Appointment:
    match event:
        case AppointmentBooked():
            return replace(
                appointment, status="booked", times=(Slot(event.start, event.end),),
                title=event.title, location=event.location, attendee_name=event.attendee_name,
                attendee_email=event.attendee_email, attendee_phone=event.attendee_phone,
            )  # fmt: skip
        case AppointmentMoved():
            return replace(appointment, status="moved", times=(Slot(event.start, event.end),))
        case AppointmentCancelled():
            return replace(appointment, status="cancelled", reason=event.reason)
        case AppointmentProposed():
            return replace(
                appointment, status="proposed", title=event.title,
                times=tuple(Slot(t.start, t.end) for t in event.times),
                attendee_name=event.attendee_name, attendee_phone=event.attendee_phone,
            )  # fmt: skip
    raise TypeError(f"{event.type} is not an appointment's event notify knows")


def _unseen(event: AppointmentEvent) -> Appointment:
    """A first event: for a move or a cancellation whose booking notify never saw, no title."""
    return Appointment(
        appointment_id=event.appointment_id,
        call_id=event.call_id,
        client_id=event.client_id,
        status="booked",
        times=(),
        changed_at=event.occurred_at,
        last_event_id=event.event_id,
    )
