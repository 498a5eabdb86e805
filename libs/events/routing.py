"""Events of the routing service: where a call goes and how an escalation travels the chain."""

from __future__ import annotations

from typing import ClassVar, Literal
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


class RoutingEvent(Event):
    """Base of the events the routing service emits."""

    service: ClassVar[Service] = "routing"

    call_id: UUID


class CallRouted(RoutingEvent):
    """The call was sent to an operator who speaks the language, or to voicemail."""

    type: Literal["CallRouted"] = "CallRouted"
    destination: Literal["operator", "voicemail"]
    operator_id: Identifier | None = None
    language: Language
    office_open: bool

    @model_validator(mode="after")
    def _operator_iff_operator(self) -> CallRouted:
        if (self.destination == "operator") != (self.operator_id is not None):
            raise ValueError("operator_id is given exactly when destination is 'operator'")
        return self


class EscalationDispatched(RoutingEvent):
    """One attempt to reach one contact of the chain over one channel."""

    type: Literal["EscalationDispatched"] = "EscalationDispatched"
    escalation_id: UUID
    attempt: int = Field(ge=1)
    contact_index: Count
    channel: Channel
    target: ShortText = Field(min_length=1, description="phone number, e-mail or webhook URL")
    ack_due_at: UtcDatetime
    ack_url: WebUrl | None = Field(
        default=None, description="signed link that acknowledges this attempt, for the message"
    )


class EscalationAcknowledged(RoutingEvent):
    """Someone in the chain took the escalation; the chain stops."""

    type: Literal["EscalationAcknowledged"] = "EscalationAcknowledged"
    escalation_id: UUID
    by: Name
    contact_index: Count | None = None


class EscalationExhausted(RoutingEvent):
    """Every contact and channel was tried and nobody acknowledged."""

    type: Literal["EscalationExhausted"] = "EscalationExhausted"
    escalation_id: UUID
    attempts: Count


ROUTING_EVENTS: tuple[type[RoutingEvent], ...] = (
    CallRouted,
    EscalationDispatched,
    EscalationAcknowledged,
    EscalationExhausted,
)
