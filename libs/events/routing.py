"""Events of the routing service: where a call goes, how an escalation travels the chain, and
the operator roster (who is on it, what they speak, whether they take calls).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from libs.events.envelope import Event, Service
from libs.events.intake import Channel
from libs.events.values import (
    Count,
    Identifier,
    Language,
    Name,
    ShortText,
    UtcDatetime,
    WebUrl,
)

Presence = Literal["available", "busy", "offline"]
"""Whether an operator can take a call now."""
BUREAU_ID = UUID(int=0)
"""The client_id of events that belong to the bureau rather than a client (the roster).

The nil UUID is no client's id, so no client ever sees these events; on Kafka they share one
key and so stay in order.
"""


class RoutingEvent(Event):
    """Base of the events the routing service emits."""

    service: ClassVar[Service] = "routing"


class CallRouted(RoutingEvent):
    """The call was sent to an operator who speaks the language, or to voicemail."""

    type: Literal["CallRouted"] = "CallRouted"
    call_id: UUID
    destination: Literal["operator", "voicemail"]
    operator_id: Identifier | None = None
    language: Language
    office_open: bool
    queue: Language | None = Field(
        default=None,
        description="The language queue the call went to: the operator's language, or the first "
        "language looked for when nobody was free; none after hours and in older events",
    )

    @model_validator(mode="after")
    def _operator_iff_operator(self) -> CallRouted:
        if (self.destination == "operator") != (self.operator_id is not None):
            raise ValueError("operator_id is given exactly when destination is 'operator'")
        return self


class EscalationEvent(RoutingEvent):
    """Base of an escalation's events: about an urgent call, or about an overdue mail
    conversation (exactly one of `call_id` and `conversation_id` is given)."""

    escalation_id: UUID
    call_id: UUID | None = Field(default=None, description="the urgent call escalated")
    conversation_id: UUID | None = Field(
        default=None, description="the mail conversation whose answer is overdue"
    )

    @model_validator(mode="after")
    def _one_subject(self) -> EscalationEvent:
        if (self.call_id is None) == (self.conversation_id is None):
            raise ValueError("exactly one of call_id and conversation_id is given")
        return self


class EscalationDispatched(EscalationEvent):
    """One attempt to reach one contact of the chain over one channel."""

    type: Literal["EscalationDispatched"] = "EscalationDispatched"
    attempt: int = Field(ge=1)
    contact_index: Count
    channel: Channel
    target: ShortText = Field(min_length=1, description="phone number, e-mail or webhook URL")
    ack_due_at: UtcDatetime
    ack_url: WebUrl | None = Field(
        default=None, description="signed link that acknowledges this attempt, for the message"
    )


class EscalationAcknowledged(EscalationEvent):
    """Someone in the chain took the escalation (or the desk answered the mail); it stops."""

    type: Literal["EscalationAcknowledged"] = "EscalationAcknowledged"
    by: Name
    contact_index: Count | None = None


class EscalationExhausted(EscalationEvent):
    """Every contact and channel was tried and nobody acknowledged."""

    type: Literal["EscalationExhausted"] = "EscalationExhausted"
    attempts: Count


class OperatorEvent(Event):
    """Base of the roster's events: one stream per operator, owned by the bureau."""

    service: ClassVar[Service] = "routing"

    client_id: UUID = BUREAU_ID
    operator_id: Identifier


Languages = Annotated[tuple[Language, ...], Field(min_length=1, max_length=4)]


class OperatorRegistered(OperatorEvent):
    """An operator joined the roster (offline until they say otherwise)."""

    type: Literal["OperatorRegistered"] = "OperatorRegistered"
    name: Name
    languages: Languages


class OperatorDetailsChanged(OperatorEvent):
    """An operator's name or the languages they take calls in changed."""

    type: Literal["OperatorDetailsChanged"] = "OperatorDetailsChanged"
    name: Name
    languages: Languages


class OperatorPresenceChanged(OperatorEvent):
    """An operator logged in, took a call, paused or logged off."""

    type: Literal["OperatorPresenceChanged"] = "OperatorPresenceChanged"
    presence: Presence
    previous: Presence
    call_id: UUID | None = Field(
        default=None, description="the call the operator is busy with (only when busy)"
    )

    @model_validator(mode="after")
    def _call_only_when_busy(self) -> OperatorPresenceChanged:
        if self.call_id is not None and self.presence != "busy":
            raise ValueError("call_id is given only when presence is 'busy'")
        return self


ROUTING_EVENTS: tuple[type[Event], ...] = (
    CallRouted,
    EscalationDispatched,
    EscalationAcknowledged,
    EscalationExhausted,
    OperatorRegistered,
    OperatorDetailsChanged,
    OperatorPresenceChanged,
)
