"""The state of one call, folded from its events: what the rules and the read row need."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from libs.events.calls import (
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    EscalationRequested,
    NoteRecorded,
    VoicemailRecorded,
)
from libs.events.envelope import Event
from libs.events.streams import StreamFold, opened_by
from libs.events.values import Language

Stage = Literal["ringing", "answered", "transferred", "voicemail"]
"""Where the call is: waiting, with an operator, put through, or left as a voicemail."""


@dataclass(frozen=True)
class Call:
    """One call as its events leave it; the latest note, voicemail and mark are their events."""

    call_id: UUID
    client_id: UUID
    correlation_id: UUID
    dialled_number: str
    caller_number: str | None
    received_at: datetime
    book_version: int | None
    office_open: bool
    stage: Stage = "ringing"
    operator_id: str | None = None
    language: Language | None = None
    answered_at: datetime | None = None
    transferred_to: str | None = None
    voicemail: VoicemailRecorded | None = None
    note: NoteRecorded | None = None
    notes: int = 0
    escalations: tuple[EscalationRequested, ...] = ()
    non_billable: CallMarkedNonBillable | None = None
    ended_at: datetime | None = None
    version: int = 1

    @property
    def ended(self) -> bool:
        """Whether the line was closed."""
        return self.ended_at is not None

    @property
    def escalation_ids(self) -> tuple[UUID, ...]:
        """The escalations requested on the call, in order."""
        return tuple(e.escalation_id for e in self.escalations)


def stream_id(call_id: UUID) -> str:
    """The event stream of a call."""
    return f"call-{call_id}"


def _received(event: CallReceived) -> Call:
    return opened_by(Call, event)


def _apply(state: Call, event: Event) -> Call:
    match event:
        case CallAnswered(operator_id=operator, language=language, occurred_at=at):
            return replace(
                state, stage="answered", operator_id=operator, language=language, answered_at=at
            )
        case NoteRecorded():
            return replace(state, note=event, notes=state.notes + 1)
        case EscalationRequested():
            return replace(state, escalations=(*state.escalations, event))
        case CallTransferred(to_number=number):
            return replace(state, stage="transferred", transferred_to=number)
        case VoicemailRecorded():
            return replace(state, stage="voicemail", voicemail=event)
        case CallEnded(ended_at=ended_at):
            return replace(state, ended_at=ended_at)
        case CallMarkedNonBillable():
            return replace(state, non_billable=event)
        case CallBillabilityRestored():
            return replace(state, non_billable=None)
    raise ValueError(f"{event.type} does not belong in a call's stream")


CALL = StreamFold(CallReceived, _received, _apply)
"""A call's stream: CallReceived first, then what the operator did with the call."""


def evolve(state: Call | None, event: Event) -> Call:
    """The call after one more of its events."""
    return CALL.evolve(state, event)


def fold(events: Iterable[Event], state: Call | None = None) -> Call | None:
    """The call after all its events (None when there are none)."""
    return CALL.fold(events, state)
