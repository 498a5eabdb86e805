"""The routing API's request and response models, kept apart from events and table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from libs.events.intake import Channel
from libs.events.routing import Presence
from libs.events.values import Language, Name
from services.routing.domain.escalation import Escalation, Status
from services.routing.domain.route import Reason


def _distinct(languages: list[Language]) -> list[Language]:
    if len(set(languages)) != len(languages):
        raise ValueError("each language once")
    return languages


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class OperatorPut(Request):
    """An operator's name and the languages they take calls in."""

    name: Name
    languages: Annotated[
        list[Language], Field(min_length=1, max_length=4), AfterValidator(_distinct)
    ]


class PresencePut(Request):
    """Whether the operator takes calls now."""

    presence: Presence


class AckCreate(Request):
    """Someone took the escalation: their name and which contact they are (the caller recorded
    it)."""

    by: Name
    contact_index: int | None = Field(default=None, ge=0, le=1000)


class OperatorRead(BaseModel):
    """One operator on the roster."""

    operator_id: str
    name: str
    languages: list[Language]
    presence: Presence
    presence_since: datetime
    current_call_id: UUID | None
    updated_at: datetime


class AttemptRead(BaseModel):
    """One attempt to reach a contact."""

    attempt: int
    contact_index: int
    channel: Channel
    target: str
    dispatched_at: datetime
    ack_due_at: datetime


class EscalationRead(BaseModel):
    """An escalation: its chain so far and how it stands."""

    escalation_id: UUID
    call_id: UUID | None = Field(description="the urgent call escalated (none for a mail)")
    conversation_id: UUID | None = Field(
        default=None, description="the mail conversation whose answer is overdue"
    )
    client_id: UUID
    urgency_kind: str
    book_version: int | None
    state: Status
    requested_at: datetime
    attempts: list[AttemptRead]
    ack_due_at: datetime | None
    acknowledged_by: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, state: Escalation) -> EscalationRead:
        """The read model of an escalation's state."""
        return cls(
            escalation_id=state.escalation_id,
            call_id=state.call_id,
            conversation_id=state.conversation_id,
            client_id=state.client_id,
            urgency_kind=state.urgency_kind,
            book_version=state.book_version,
            state=state.status,
            requested_at=state.requested_at,
            attempts=[AttemptRead(**vars(dispatch)) for dispatch in state.dispatches],
            ack_due_at=state.due_at,
            acknowledged_by=state.acknowledged_by,
            closed_at=state.closed_at,
        )


class RouteRead(BaseModel):
    """Where a call went and why."""

    destination: Literal["operator", "voicemail"]
    reason: Reason
    operator_id: str | None
    language: Language
    office_open: bool
    received_at: datetime
    routed_at: datetime


class CallRoutingRead(BaseModel):
    """What routing did with a call: its route and its escalations."""

    call_id: UUID
    route: RouteRead | None
    escalations: list[EscalationRead]
