"""The intake HTTP API's request and response bodies (kept apart from events and rows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from libs.events import (
    EmailHandling,
    EscalationContact,
    FaqEntry,
    Language,
    NotificationPreferences,
    OfficeHours,
    PerCallPlan,
    Plan,
    TemporaryInstruction,
    UrgencyRule,
)
from libs.events.intake import AfterHours, ApiKeyRole
from libs.events.values import (
    EmailAddress,
    HttpsUrl,
    LongText,
    Name,
    ShortText,
    Text,
    checked_email,
)
from services.intake.domain.onboarding import Step
from services.intake.domain.pool import PoolState

Status = Literal["registered", "active", "offboarded"]


def _recipients_checked(preferences: NotificationPreferences) -> NotificationPreferences:
    for recipient in preferences.recipients:
        checked_email(recipient)
    return preferences


def _contact_checked(contact: EscalationContact) -> EscalationContact:
    if contact.email is not None:
        checked_email(contact.email)
    return contact


CheckedNotification = Annotated[NotificationPreferences, AfterValidator(_recipients_checked)]
"""Notification preferences given through the API: every recipient checked by email-validator."""
CheckedContact = Annotated[EscalationContact, AfterValidator(_contact_checked)]
"""An escalation contact given through the API: its e-mail address checked by email-validator."""


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ClientCreate(RequestBody):
    """The intake form: who the client is and the terms agreed."""

    name: Name
    contact_email: EmailAddress
    language: Language
    plan: Plan = PerCallPlan()
    email_handling: EmailHandling = EmailHandling()
    notification: CheckedNotification | None = Field(
        default=None, description="Default: a daily digest to contact_email"
    )
    office_hours: OfficeHours = OfficeHours()
    cold_calls_free: bool = False


class ClientCreated(BaseModel):
    """The id of the client just registered."""

    client_id: UUID


class PlanRead(BaseModel):
    """Commercial terms from a day on."""

    plan: Plan
    email_handling: EmailHandling
    effective_from: date
    recorded_at: datetime


class ClientRead(BaseModel):
    """A client: identity, lifecycle, current terms, preferences and numbers."""

    client_id: UUID
    name: str
    contact_email: str
    language: Language
    status: Status
    plan: PlanRead | None = Field(description="The plan in force today")
    cold_calls_free: bool
    setup_fee_cents: int
    notification: NotificationPreferences
    office_hours: OfficeHours
    numbers: list[str]
    book_version: int | None
    registered_at: datetime
    activated_at: datetime | None
    offboarded_at: datetime | None
    offboard_reason: str | None
    offboard_at: datetime | None = Field(
        default=None, description="The moment the client leaves, when it is chosen ahead"
    )


class Offboarding(RequestBody):
    """Why the client leaves (optional) and when (default: now; no notice period)."""

    reason: ShortText = ""
    effective_at: AwareDatetime | None = Field(
        default=None, description="Calls are taken until this moment; then the client leaves"
    )


class OffboardingCancel(RequestBody):
    """Why the client stays after all."""

    reason: ShortText = ""


class NumberAssign(RequestBody):
    """A forwarding number, E.164 preferred; Dutch national notation is accepted too.

    Without a number the next free number of the pool is reserved. A number the pool does not
    have yet joins it and is reserved in one step; one resting in quarantine is refused (409).
    """

    number: str | None = Field(default=None, max_length=64, examples=["+31851234567"])


class PoolAdd(RequestBody):
    """Numbers the telephony partner provides, to give out to clients."""

    numbers: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=500, examples=[["+31851234567", "+31851234568"]]
    )


class PoolAdded(BaseModel):
    """Which numbers joined the pool, and which it had already (left as they were)."""

    added: list[str]
    already_in_pool: list[str]


class PoolNumberRead(BaseModel):
    """A number of the pool: free, reserved by a client, or resting in quarantine until when."""

    number: str
    state: PoolState
    client_id: UUID | None
    added_at: datetime
    reserved_at: datetime | None
    released_at: datetime | None
    quarantine_until: datetime | None


class NumberRead(BaseModel):
    """A forwarding number and the client holding it."""

    number: str
    client_id: UUID


class BookWrite(RequestBody):
    """A complete new version of the secretary book."""

    greeting: Text = Field(min_length=1)
    instructions: LongText = ""
    faq: list[FaqEntry] = Field(default=[], max_length=500)
    urgency_rules: list[UrgencyRule] = Field(default=[], max_length=50)
    escalation_contacts: list[CheckedContact] = Field(default=[], max_length=20)
    temporary_instructions: list[TemporaryInstruction] = Field(default=[], max_length=100)
    after_hours: AfterHours = "email_summary"
    calendar_url: HttpsUrl | None = None
    expected_book_version: int | None = Field(
        default=None, ge=0, description="Refuse (409) unless the book is at this version now"
    )


class BookVersion(BaseModel):
    """The version a book revision was stored as."""

    book_version: int


class BookRevisionRead(BaseModel):
    """One entry of a book's history."""

    book_version: int
    revised_at: datetime


class BookRead(BaseModel):
    """One version of the secretary book."""

    client_id: UUID
    book_version: int
    revised_at: datetime
    greeting: str
    instructions: str
    faq: list[FaqEntry]
    urgency_rules: list[UrgencyRule]
    escalation_contacts: list[EscalationContact]
    temporary_instructions: list[TemporaryInstruction]
    after_hours: AfterHours
    calendar_url: str | None


class PlanChange(RequestBody):
    """New terms from a day on; e-mail handling stays as it is unless given."""

    plan: Plan
    effective_from: date
    email_handling: EmailHandling | None = None


class PlansRead(BaseModel):
    """The plan in force today and every plan period, in the order recorded."""

    in_force: PlanRead | None
    history: list[PlanRead]


class ScreenPop(BaseModel):
    """All an operator needs when a call to a number comes in, in one answer."""

    number: str
    client_id: UUID
    company_name: str
    language: Language
    status: Status
    office_open: bool
    office_hours: OfficeHours
    book_version: int | None
    greeting: str | None
    instructions: str
    faq: list[FaqEntry]
    urgency_rules: list[UrgencyRule]
    escalation_contacts: list[EscalationContact]
    temporary_instructions: list[TemporaryInstruction] = Field(
        description="Only those in force at `as_of`"
    )
    after_hours: AfterHours
    calendar_url: str | None
    as_of: datetime


class ApiKeyCreate(RequestBody):
    """A key for a machine client of one client: acting as the client, or as the desk for it."""

    client_id: UUID
    role: ApiKeyRole
    name: Name = Field(description="What the key is for, e.g. the client's CRM")


class ApiKeyRead(BaseModel):
    """An issued key, without its secret."""

    key_id: UUID
    client_id: UUID
    role: ApiKeyRole
    name: str
    issued_at: datetime
    revoked_at: datetime | None


class ApiKeyIssuedRead(BaseModel):
    """A key just issued: `key` is shown in this answer only; no one can give it back later."""

    key_id: UUID
    key: str = Field(description="Send as the X-Api-Key header; only its digest is kept")
    client_id: UUID
    role: ApiKeyRole
    name: str
    issued_at: datetime


class EnquiryCreate(RequestBody):
    """A prospective client got in touch: who, how to reach them, what they wish for."""

    contact_name: Name
    phone: str | None = Field(default=None, max_length=64, examples=["+31612345678"])
    wishes: LongText = ""


class QuoteCreate(RequestBody):
    """The quote: the chosen plan (default: the one in force) until a Europe/Amsterdam day."""

    valid_until: date
    plan: Plan | None = None
    email_handling: EmailHandling | None = None


class QuoteRead(BaseModel):
    """The quote as issued; its PDF is at /clients/{id}/quote.pdf."""

    plan: Plan
    email_handling: EmailHandling
    call_rate_cents: int
    setup_fee_cents: int
    valid_until: date
    issued_at: datetime


class TermsAccept(RequestBody):
    """Which version of the general terms the client accepted, and who signed."""

    terms_version: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["2026-01"])
    accepted_by: Name


class OnboardingStepRead(BaseModel):
    """One step of onboarding and when it was done (null: not yet)."""

    step: Step
    done_at: datetime | None


class OnboardingRead(BaseModel):
    """Every step in order with its time, the next one due, and the lead time once active."""

    client_id: UUID
    steps: list[OnboardingStepRead]
    next_step: Step | None
    quote_valid_until: date | None
    terms_version: str | None
    lead_time_seconds: float | None = Field(
        description="Working time (Mon-Fri 08:00-17:00 Amsterdam, not on Dutch public "
        "holidays) from the complete intake form to active"
    )
    lead_time_target_seconds: float
