"""Events of the calls service: the lifecycle of one call as the operator drives it."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from libs.events.envelope import Event, Service
from libs.events.values import (
    Count,
    Email,
    Identifier,
    Language,
    Name,
    PhoneNumber,
    ShortText,
    Slug,
    Text,
    UtcDatetime,
    ValueObject,
)

NonBillableReason = Literal[
    "wrong_number",
    "urgent_family_matter",
    "caller_follows_up_themselves",
    "cold_call",
    "incomplete_intake",
]
FollowUp = Literal[
    "none", "call_back", "email_back", "caller_will_call_back", "caller_will_email", "other"
]
"""What should happen next: the client calls/e-mails back, or the caller said they would."""


class CallEvent(Event):
    """Base of the events the calls service emits; each is about one call."""

    service: ClassVar[Service] = "calls"

    call_id: UUID


class CallReceived(CallEvent):
    """A call to a reserved number arrived; records what the screen pop showed."""

    type: Literal["CallReceived"] = "CallReceived"
    dialled_number: PhoneNumber
    caller_number: PhoneNumber | None = Field(description="None when the caller withheld it")
    received_at: UtcDatetime
    book_version: int | None = Field(ge=1)
    office_open: bool
    caller_language: Language | None = Field(
        default=None,
        description="The caller's language when known (the IVR choice or the caller's country)",
    )
    imported: bool = Field(
        default=False,
        description="Recorded by a staff import (exempt from the backdating window), not live",
    )


class CallAnswered(CallEvent):
    """An operator picked up the call."""

    type: Literal["CallAnswered"] = "CallAnswered"
    operator_id: Identifier
    language: Language


class NoteRecorded(CallEvent):
    """The operator's message for the client; a later note for the same call supersedes it."""

    type: Literal["NoteRecorded"] = "NoteRecorded"
    operator_id: Identifier
    book_version: int | None = Field(ge=1)
    caller_name: Name
    caller_company: ShortText = ""
    caller_number: PhoneNumber | None = None
    message: Text
    follow_up: FollowUp = "none"
    follow_up_detail: ShortText = ""
    actions_taken: Text = ""
    information_given: Text = ""


class EscalationRequested(CallEvent):
    """The operator judged the call urgent under one of the book's urgency rules."""

    type: Literal["EscalationRequested"] = "EscalationRequested"
    escalation_id: UUID
    urgency_kind: Slug
    reason: Text
    book_version: int | None = Field(default=None, ge=1)


class CallTransferred(CallEvent):
    """The call was put through to another number."""

    type: Literal["CallTransferred"] = "CallTransferred"
    to_number: PhoneNumber
    escalation_id: UUID | None = None


class VoicemailRecorded(CallEvent):
    """The caller left a voicemail (after hours or no operator free)."""

    type: Literal["VoicemailRecorded"] = "VoicemailRecorded"
    recording_ref: ShortText = Field(min_length=1)
    duration_seconds: Count
    summary: Text = ""


class CallEnded(CallEvent):
    """The line was closed."""

    type: Literal["CallEnded"] = "CallEnded"
    ended_at: UtcDatetime


class MailEvidence(ValueObject):
    """The caller's own mail that shows they followed up themselves (kept by the inbox)."""

    conversation_id: UUID
    message_id: ShortText = Field(min_length=1)
    sender: Email
    subject: ShortText = ""
    received_at: UtcDatetime


class CallMarkedNonBillable(CallEvent):
    """The call must not be billed, for one of the agreed reasons."""

    type: Literal["CallMarkedNonBillable"] = "CallMarkedNonBillable"
    reason: NonBillableReason
    comment: ShortText = ""
    evidence: MailEvidence | None = Field(
        default=None,
        description="The caller's mail, when the mark follows the caller's announced e-mail",
    )


class CallBillabilityRestored(CallEvent):
    """A non-billable mark was reverted: the call is billable again."""

    type: Literal["CallBillabilityRestored"] = "CallBillabilityRestored"
    comment: ShortText = ""


CALL_EVENTS: tuple[type[CallEvent], ...] = (
    CallReceived,
    CallAnswered,
    NoteRecorded,
    EscalationRequested,
    CallTransferred,
    VoicemailRecorded,
    CallEnded,
    CallMarkedNonBillable,
    CallBillabilityRestored,
)
