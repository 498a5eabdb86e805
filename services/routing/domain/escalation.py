"""One escalation: given its request and its events, the next attempt, the end, or a refusal.

State is folded from the calls event that asked for it (EscalationRequested) followed by the
escalation's own routing events; the chain (from the book) comes with each command.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from libs.errors import Conflict, NotFound, Rejected
from libs.events.calls import EscalationRequested
from libs.events.envelope import SYSTEM, Actor, Event
from libs.events.intake import Channel
from libs.events.routing import EscalationAcknowledged, EscalationDispatched, EscalationExhausted
from libs.events.streams import StreamFold, opened_by
from services.routing.domain.chain import Chain, contact_name

Status = Literal["requested", "dispatched", "acknowledged", "exhausted"]


@dataclass(frozen=True)
class Dispatch:
    """One attempt made."""

    attempt: int
    contact_index: int
    channel: Channel
    target: str
    dispatched_at: datetime
    ack_due_at: datetime


@dataclass(frozen=True)
class Escalation:
    """What the rules need to know about one escalation."""

    escalation_id: UUID
    call_id: UUID
    client_id: UUID
    correlation_id: UUID
    request_id: UUID
    urgency_kind: str
    book_version: int | None
    requested_at: datetime
    status: Status = "requested"
    dispatches: tuple[Dispatch, ...] = ()
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    version: int = 0
    """The version of the escalation's own stream (0: nothing emitted yet)."""

    @property
    def due_at(self) -> datetime | None:
        """When the current attempt times out (None once the chain has ended)."""
        if self.status != "dispatched":
            return None
        return self.dispatches[-1].ack_due_at


@dataclass(frozen=True, kw_only=True)
class StartChain:
    """Make the first attempt of a requested escalation."""

    at: datetime
    chain: Chain


@dataclass(frozen=True, kw_only=True)
class FireTimer:
    """The clock reached `at`: if the current attempt went unacknowledged, make the next one.

    The next attempt is made at `at` and gets its full timeout from then: a late tick (routing
    was down) never shortens the time a contact has to acknowledge.
    """

    at: datetime
    chain: Chain


@dataclass(frozen=True, kw_only=True)
class Acknowledge:
    """Someone took the escalation: over a signed link for an attempt, or through the API.

    Without a name (`by` empty) the contact of the attempt is named, from the chain followed.
    """

    at: datetime
    by: str
    actor: Actor
    attempt: int | None = None
    contact_index: int | None = None
    chain: Chain = field(default_factory=lambda: Chain(()))


Command = StartChain | FireTimer | Acknowledge


def stream_id(escalation_id: UUID) -> str:
    """The event stream of an escalation in routing's store."""
    return f"escalation-{escalation_id}"


def decide(command: Command, state: Escalation | None) -> list[Event]:
    """The events a command produces on an escalation, or a refusal (libs.errors) saying why not."""
    if state is None:
        raise NotFound("no such escalation")
    match command:
        case StartChain():
            return _next(state, command.chain, command.at) if state.status == "requested" else []
        case FireTimer():
            due = state.due_at
            return (
                [] if due is None or command.at < due else _next(state, command.chain, command.at)
            )
        case Acknowledge():
            return [acknowledge(command, state)]


def acknowledge(command: Acknowledge, state: Escalation) -> EscalationAcknowledged:
    """Stop the chain, naming who took it; refused once it has ended."""
    if state.status == "acknowledged":
        raise Conflict(
            f"escalation {state.escalation_id} was already acknowledged by {state.acknowledged_by}"
        )
    if state.status == "exhausted":
        raise Conflict(
            f"escalation {state.escalation_id} is exhausted: nobody acknowledged in time"
        )
    return EscalationAcknowledged(
        **_envelope(state, command.at, command.actor),
        by=command.by or contact_name(command.chain, command.attempt),
        contact_index=_contact(command, state),
    )


def _contact(command: Acknowledge, state: Escalation) -> int | None:
    if command.attempt is not None:
        found = [d for d in state.dispatches if d.attempt == command.attempt]
        if not found:
            raise Rejected(f"attempt {command.attempt} of this escalation was never made")
        return found[0].contact_index
    reached = {d.contact_index for d in state.dispatches}
    if command.contact_index is not None and command.contact_index not in reached:
        raise Rejected(f"contact {command.contact_index} has not been reached by this escalation")
    return command.contact_index


def _next(state: Escalation, chain: Chain, at: datetime) -> list[Event]:
    made = len(state.dispatches)
    if made >= len(chain.steps):
        return [EscalationExhausted(**_envelope(state, at), attempts=made)]
    step = chain.steps[made]
    return [
        EscalationDispatched(
            **_envelope(state, at),
            attempt=made + 1,
            contact_index=step.contact_index,
            channel=step.channel,
            target=step.target,
            ack_due_at=at + chain.ack_timeout,
        )
    ]


def _envelope(state: Escalation, at: datetime, actor: Actor = SYSTEM) -> dict[str, Any]:
    return {
        "call_id": state.call_id,
        "client_id": state.client_id,
        "escalation_id": state.escalation_id,
        "occurred_at": at,
        "correlation_id": state.correlation_id,
        "causation_id": state.request_id,
        "actor": actor,
    }


def _requested(event: EscalationRequested) -> Escalation:
    return opened_by(Escalation, event, request_id=event.event_id, requested_at=event.occurred_at)


def _apply(state: Escalation, event: Event) -> Escalation:
    match event:
        case EscalationDispatched():
            made = Dispatch(
                event.attempt, event.contact_index, event.channel, event.target,
                event.occurred_at, event.ack_due_at,
            )  # fmt: skip
            return replace(state, status="dispatched", dispatches=(*state.dispatches, made))
        case EscalationAcknowledged(by=by):
            return replace(
                state, status="acknowledged", acknowledged_by=by, closed_at=event.occurred_at
            )
        case EscalationExhausted():
            return replace(state, status="exhausted", closed_at=event.occurred_at)
    raise ValueError(f"{event.type} does not belong in an escalation's stream")


ESCALATION = StreamFold(EscalationRequested, _requested, _apply)
"""An escalation's stream: its request first, then its own events."""


def evolve(state: Escalation | None, event: Event) -> Escalation:
    """The escalation after one more event (its request first, then its own events)."""
    return ESCALATION.evolve(state, event)


def fold(events: Iterable[Event], state: Escalation | None = None) -> Escalation | None:
    """The escalation after all its events (None when there are none)."""
    return ESCALATION.fold(events, state)
