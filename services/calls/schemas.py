"""The calls API's request and response models, kept apart from events and read rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from libs.availability import MIN_SLOT
from libs.events.calendar import Permission, Provider
from libs.events.calls import FollowUp, NonBillableReason
from libs.events.intake import AfterHours, Channel
from libs.events.values import Language, PhoneNumber, Slug, UtcDatetime


def _storable(value: str) -> str:
    """PostgreSQL stores neither NUL characters nor lone surrogates in text or JSON."""
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    return value


Instant = UtcDatetime
"""A timezone-aware instant (a naive one is refused), normalised to UTC."""
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable)]
ShortText = Annotated[str, Field(max_length=500), AfterValidator(_storable)]
Text = Annotated[str, Field(max_length=5000), AfterValidator(_storable)]
Stage = Literal["ringing", "answered", "transferred", "voicemail"]


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CallCreate(Request):
    """Telephony reports a call: the number dialled, who called and when (default: now)."""

    dialled_number: PhoneNumber
    caller_number: PhoneNumber | None = None
    received_at: Instant | None = None
    caller_language: Language | None = Field(
        default=None, description="The caller's language when known (e.g. the IVR choice)"
    )
    imported: StrictBool = Field(
        default=False,
        alias="import",
        description="Staff only (anyone else gets 403): a call imported from elsewhere, whose "
        "received_at may lie before the backdating window (never before its number was the "
        "client's); recorded on CallReceived as imported",
    )


class CallAnswer(Request):
    """The caller (an operator) picks up, in a language they speak; they are its operator."""

    language: Language


class NoteCreate(Request):
    """The message for the client, with every field the bureau records per call.

    Its operator is the caller who records it, never a field of the body.
    """

    caller_name: Name
    caller_company: ShortText = ""
    caller_number: PhoneNumber | None = None
    message: Annotated[Text, Field(min_length=1)]
    follow_up: FollowUp = "none"
    follow_up_detail: ShortText = ""
    actions_taken: Text = ""
    information_given: Text = ""


class EscalationCreate(Request):
    """The call is urgent under one of the book's urgency rules."""

    urgency_kind: Slug
    reason: Annotated[Text, Field(min_length=1)]


class TransferCreate(Request):
    """Put the call through, possibly as part of an escalation."""

    to_number: PhoneNumber
    escalation_id: UUID | None = None


class VoicemailCreate(Request):
    """The caller left a message nobody answered."""

    recording_ref: Annotated[ShortText, Field(min_length=1)]
    duration_seconds: int = Field(ge=0, le=86400, strict=True)
    summary: Text = ""


class NonBillableCreate(Request):
    """Do not bill the call, for one of the agreed reasons."""

    reason: NonBillableReason
    comment: ShortText = ""


class ClientRead(BaseModel):
    """The client as the operator answers for it."""

    id: UUID
    name: str
    language: Language


class FaqRead(BaseModel):
    """A question callers ask and its answer."""

    question: str
    answer: str


class UrgencyRuleRead(BaseModel):
    """What the client calls urgent and how it is escalated."""

    kind: str
    description: str
    channels: list[Channel]


class TemporaryInstructionRead(BaseModel):
    """An instruction in force for a while."""

    text: str
    valid_from: datetime
    valid_until: datetime


class LineRead(BaseModel):
    """What calls knows of a forwarding number, from its projection of intake."""

    number: str
    client: ClientRead
    client_status: Literal["registered", "active", "offboarded"]
    book_version: int | None
    office_open: bool
    office_status: str


class FreeSlotRead(BaseModel):
    """A free stretch in the client's calendar, within its office hours."""

    start: datetime
    end: datetime


class AppointmentTodayRead(BaseModel):
    """Busy time in the client's calendar today; its title only where the client allows."""

    start: datetime
    end: datetime
    title: str = ""


class CalendarRead(BaseModel):
    """The client's calendar at the moment of the request, from calls' last reading of it."""

    linked: bool
    provider: Provider | None = None
    permission: Permission | None = Field(
        default=None, description="read: the operator proposes times; write: they may book"
    )
    state: Literal["free", "busy", "unknown"] = Field(
        description="unknown: not linked, not read yet, or now lies outside the window read"
    )
    until: datetime | None = Field(
        default=None, description="When the state ends; null if unknown or beyond the window"
    )
    next_free_slot: FreeSlotRead | None = Field(
        default=None,
        description=f"The next free slot of at least {MIN_SLOT // timedelta(minutes=1)} minutes "
        "later today within office hours",
    )
    appointments_today: list[AppointmentTodayRead] = Field(
        default=[], description="Busy time of the client's local day from now on"
    )
    read_at: datetime | None = None
    stale: bool = Field(
        default=False,
        description="The reading is older than FRONTDESK_CALLS_CALENDAR_STALE_SECONDS, there "
        "is none yet, or the calendar cannot be read at the moment (unreachable_since)",
    )
    unreachable_since: datetime | None = None


class ScreenPop(BaseModel):
    """What the operator's screen shows when the call comes in."""

    call_id: UUID
    received_at: datetime
    dialled_number: str
    caller_number: str | None
    client: ClientRead
    book_version: int | None
    office_open: bool
    office_status: str
    greeting: str
    instructions: str = ""
    faq: list[FaqRead] = []
    urgency_rules: list[UrgencyRuleRead] = []
    temporary_instructions: list[TemporaryInstructionRead] = []
    after_hours: AfterHours = "email_summary"
    calendar_url: str | None = None
    calendar: CalendarRead
    cold_calls_free: bool


class NoteRead(BaseModel):
    """The latest message recorded for a call, with the book version on screen."""

    operator_id: str
    book_version: int | None
    caller_name: str
    caller_company: str
    caller_number: str | None
    message: str
    follow_up: FollowUp
    follow_up_detail: str
    actions_taken: str
    information_given: str
    recorded_at: datetime


class EscalationRead(BaseModel):
    """An escalation requested on a call."""

    escalation_id: UUID
    urgency_kind: str
    reason: str
    book_version: int | None
    requested_at: datetime


class VoicemailRead(BaseModel):
    """The voicemail a caller left."""

    recording_ref: str
    duration_seconds: int
    summary: str
    recorded_at: datetime


class MailEvidenceRead(BaseModel):
    """The caller's own mail that shows they followed up themselves."""

    conversation_id: UUID
    message_id: str
    sender: str
    subject: str
    received_at: datetime


class NonBillableRead(BaseModel):
    """Why a call is not billed, since when, and on what evidence."""

    reason: NonBillableReason
    comment: str
    marked_at: datetime
    evidence: MailEvidenceRead | None = None


class AnnouncedMailRead(BaseModel):
    """A caller's announced mail that arrived: the call is proposed as not billable."""

    call_id: UUID
    client_id: UUID
    conversation_id: UUID
    mail_id: UUID
    message_id: str
    sender: str
    subject: str
    received_at: datetime
    matched_by: Literal["address", "number"]
    found_at: datetime
    status: Literal["proposed", "confirmed", "marked_otherwise"] = Field(
        description="proposed: awaiting confirmation; confirmed: the call is not billed on this "
        "mail; marked_otherwise: the call carries another non-billable mark"
    )


class AnnouncedMailConfirm(Request):
    """Confirm that the mail is the one the caller announced: the call is not billed."""

    comment: ShortText = ""


class CallRead(BaseModel):
    """A call as the read model holds it."""

    call_id: UUID
    client_id: UUID
    dialled_number: str
    caller_number: str | None
    received_at: datetime
    book_version: int | None
    office_open: bool
    stage: Stage
    ended_at: datetime | None
    operator_id: str | None
    language: Language | None
    answered_at: datetime | None
    transferred_to: str | None
    voicemail: VoicemailRead | None
    note: NoteRead | None
    notes_count: int
    escalations: list[EscalationRead]
    non_billable: NonBillableRead | None
    version: int


class HistoryEntry(BaseModel):
    """One event of a call, as it was recorded."""

    stream_version: int
    event_id: UUID
    type: str
    occurred_at: datetime
    event: dict[str, Any]


class CallDetail(CallRead):
    """A call with its full event history."""

    history: list[HistoryEntry]
