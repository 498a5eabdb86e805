"""One escalation: given its request and its events, the next attempt, the end, or a refusal.

State is folded from the event that opened it followed by the escalation's own routing events:
the calls event that asked for it (EscalationRequested: an urgent call), or the inbox event
that says a mail conversation's answer is overdue (ConversationEscalated: its id is a UUIDv5
of the conversation and the due time, so each overdue wait opens one escalation). The chain
(from the book) comes with each command. When the desk answers the mail (a reply, a forward,
handled, spam) the escalation is acknowledged by "desk" and the chain stops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID, uuid5

from libs.errors import Conflict, NotFound, Rejected
from libs.events.calls import EscalationRequested
from libs.events.envelope import SYSTEM, Actor, Event
from libs.events.inbox import ConversationEscalated
from libs.events.intake import Channel
from libs.events.routing import EscalationAcknowledged, EscalationDispatched, EscalationExhausted
from libs.events.streams import StreamFold, opened_by
from services.routing.domain.chain import (
    MAIL_OVERDUE,
    Book,
    Chain,
    chain_for,
    contact_name,
    mail_chain_for,
)

Status = Literal["requested", "dispatched", "acknowledged", "exhausted"]
Subject = Literal["call", "mail"]
"""What an escalation is about: an urgent call, or a mail whose answer is overdue."""
DESK = "desk"
"""Who acknowledged a mail escalation when the bureau answered the mail."""
OPEN: tuple[Status, ...] = ("requested", "dispatched")
"""The states in which the chain still runs (the index of `escalations.open_for_conversation`)."""


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
    call_id: UUID | None
    client_id: UUID
    correlation_id: UUID
    request_id: UUID
    urgency_kind: str
    book_version: int | None
    requested_at: datetime
    conversation_id: UUID | None = None
    status: Status = "requested"
    dispatches: tuple[Dispatch, ...] = ()
    acknowledged_by: str | None = None
    closed_at: datetime | None = None
    version: int = 0
    """The version of the escalation's own stream (0: nothing emitted yet)."""

    @property
    def subject(self) -> Subject:
        """An urgent call's escalation, or an overdue mail's."""
        return "mail" if self.conversation_id is not None else "call"

    @property
    def open(self) -> bool:
        """True while the chain runs (nobody acknowledged, not exhausted)."""
        return self.status in OPEN

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


@dataclass(frozen=True, kw_only=True)
class DeskAnswered:
    """The bureau answered the escalated mail (replied, forwarded, handled, marked spam): the
    chain stops, acknowledged by the desk; nothing happens once it has ended."""

    at: datetime
    actor: Actor = SYSTEM


Command = StartChain | FireTimer | Acknowledge | DeskAnswered


def mail_escalation_id(conversation_id: UUID, due_at: datetime) -> UUID:
    """The escalation of a conversation's overdue answer: one per conversation and due time
    (the same instant in any timezone is the same due time)."""
    return uuid5(conversation_id, due_at.astimezone(UTC).isoformat())


def chain_to_run(book: Book | None, state: Escalation) -> Chain:
    """The chain an escalation follows in a book: the call's urgency rule, or the mail's."""
    if state.subject == "mail":
        return mail_chain_for(book)
    return chain_for(book, state.urgency_kind)


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
        case DeskAnswered():
            return [desk_acknowledged(command, state)] if state.open else []


def desk_acknowledged(command: DeskAnswered, state: Escalation) -> EscalationAcknowledged:
    """The acknowledgement the desk's answer makes."""
    return EscalationAcknowledged(**_envelope(state, command.at, command.actor), by=DESK)


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
        "conversation_id": state.conversation_id,
        "client_id": state.client_id,
        "escalation_id": state.escalation_id,
        "occurred_at": at,
        "correlation_id": state.correlation_id,
        "causation_id": state.request_id,
        "actor": actor,
    }


def _requested(event: EscalationRequested) -> Escalation:
    return opened_by(Escalation, event, request_id=event.event_id, requested_at=event.occurred_at)


def _overdue(event: ConversationEscalated) -> Escalation:
    return Escalation(
        escalation_id=mail_escalation_id(event.conversation_id, event.due_at),
        call_id=None,
        client_id=event.client_id,
        correlation_id=event.correlation_id,
        request_id=event.event_id,
        urgency_kind=MAIL_OVERDUE,
        book_version=None,
        requested_at=event.occurred_at,
        conversation_id=event.conversation_id,
    )


Opener = EscalationRequested | ConversationEscalated
"""The events an escalation's state starts from."""


def opened(event: Opener) -> Escalation:
    """An escalation's first state, from the event that opened it."""
    return _overdue(event) if isinstance(event, ConversationEscalated) else _requested(event)


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
"""An urgent call's escalation stream: its request first, then its own events."""
MAIL_ESCALATION = StreamFold(ConversationEscalated, _overdue, _apply)
"""An overdue mail's escalation stream: the inbox's ConversationEscalated, then its own events."""


def evolve(state: Escalation | None, event: Event) -> Escalation:
    """The escalation after one more event (its opener first, then its own events)."""
    if state is None and isinstance(event, ConversationEscalated):
        return MAIL_ESCALATION.evolve(state, event)
    return ESCALATION.evolve(state, event)


def fold(events: Iterable[Event], state: Escalation | None = None) -> Escalation | None:
    """The escalation after all its events (None when there are none)."""
    for event in events:
        state = evolve(state, event)
    return state
