"""The state of one call, folded from its events."""

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
    NonBillableReason,
    NoteRecorded,
    VoicemailRecorded,
)
from libs.events.envelope import Event

Stage = Literal["ringing", "answered", "transferred", "voicemail"]
"""Where the call is: waiting, with an operator, put through, or left as a voicemail."""


@dataclass(frozen=True)
class Call:
    """What the rules need to know about one call."""

    call_id: UUID
    client_id: UUID
    correlation_id: UUID
    book_version: int | None
    office_open: bool
    received_at: datetime
    stage: Stage = "ringing"
    ended: bool = False
    operator_id: str | None = None
    escalation_ids: tuple[UUID, ...] = ()
    notes: int = 0
    non_billable: NonBillableReason | None = None
    version: int = 1


def stream_id(call_id: UUID) -> str:
    """The event stream of a call."""
    return f"call-{call_id}"


def evolve(state: Call | None, event: Event) -> Call:
    """The call after one more of its events."""
    if state is None:
        if not isinstance(event, CallReceived):
            raise ValueError(f"a call's stream starts with CallReceived, not {event.type}")
        return _received(event)
    return replace(_apply(state, event), version=state.version + 1)


def fold(events: Iterable[Event], state: Call | None = None) -> Call | None:
    """The call after all its events (None when there are none)."""
    for event in events:
        state = evolve(state, event)
    return state


def _received(event: CallReceived) -> Call:
    return Call(
        call_id=event.call_id,
        client_id=event.client_id,
        correlation_id=event.correlation_id,
        book_version=event.book_version,
        office_open=event.office_open,
        received_at=event.received_at,
    )


def _apply(state: Call, event: Event) -> Call:
    match event:
        case CallAnswered(operator_id=operator):
            return replace(state, stage="answered", operator_id=operator)
        case NoteRecorded():
            return replace(state, notes=state.notes + 1)
        case EscalationRequested(escalation_id=escalation):
            return replace(state, escalation_ids=(*state.escalation_ids, escalation))
        case CallTransferred():
            return replace(state, stage="transferred")
        case VoicemailRecorded():
            return replace(state, stage="voicemail")
        case CallEnded():
            return replace(state, ended=True)
        case CallMarkedNonBillable(reason=reason):
            return replace(state, non_billable=reason)
        case CallBillabilityRestored():
            return replace(state, non_billable=None)
    raise ValueError(f"{event.type} does not belong in a call's stream")
