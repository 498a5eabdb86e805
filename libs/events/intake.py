"""Events of the intake service: clients, their numbers, secretary book, plan and preferences."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field, model_validator

from libs.events.envelope import Event, Service
from libs.events.values import (
    Cents,
    Email,
    EmailHandling,
    HttpsUrl,
    Language,
    LongText,
    Name,
    NotificationPreferences,
    OfficeHours,
    PhoneNumber,
    Plan,
    ShortText,
    Slug,
    Text,
    UtcDatetime,
    ValueObject,
)

POOL_ID = UUID(int=0)
"""The client_id of the pool's own events: the nil UUID, routing's BUREAU_ID (no client's)."""
Channel = Literal["transfer", "sms", "chat", "email"]
"""How an urgent call reaches a contact; `chat` is a webhook (Teams, Slack) replacing Skype."""
AfterHours = Literal["email_summary", "call_back"]


class IntakeEvent(Event):
    """Base of the events the intake service emits."""

    service: ClassVar[Service] = "intake"


class FaqEntry(ValueObject):
    """A question callers ask and the answer the operator may give."""

    question: Text = Field(min_length=1)
    answer: Text


class UrgencyRule(ValueObject):
    """What the client calls urgent and which channels to try, in order."""

    kind: Slug
    description: Text
    channels: tuple[Channel, ...] = Field(min_length=1, max_length=4)
    ack_timeout_seconds: int = Field(default=600, ge=30, le=86400)


class EscalationContact(ValueObject):
    """A person in the escalation chain and the ways to reach them."""

    name: Name
    phone: PhoneNumber | None = None
    email: Email | None = None
    chat_webhook_url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _reachable(self) -> EscalationContact:
        if self.phone is None and self.email is None and self.chat_webhook_url is None:
            raise ValueError("an escalation contact needs a phone, an e-mail or a chat webhook")
        return self


class TemporaryInstruction(ValueObject):
    """An instruction that applies only for a while (holiday cover, a campaign)."""

    text: Text = Field(min_length=1)
    valid_from: UtcDatetime
    valid_until: UtcDatetime

    @model_validator(mode="after")
    def _from_before_until(self) -> TemporaryInstruction:
        if self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self


class ClientRegistered(IntakeEvent):
    """A client signed up: contact details, plan, preferences and office hours."""

    type: Literal["ClientRegistered"] = "ClientRegistered"
    name: Name
    contact_email: Email
    language: Language
    plan: Plan
    email_handling: EmailHandling = EmailHandling()
    notification: NotificationPreferences
    office_hours: OfficeHours = OfficeHours()
    cold_calls_free: bool = False
    setup_fee_cents: Cents = 4500


class ClientActivated(IntakeEvent):
    """The intake is complete and the client may forward calls."""

    type: Literal["ClientActivated"] = "ClientActivated"


class NumberAssigned(IntakeEvent):
    """A reserved forwarding number now belongs to the client."""

    type: Literal["NumberAssigned"] = "NumberAssigned"
    number: PhoneNumber


class NumberReleased(IntakeEvent):
    """A forwarding number no longer belongs to the client.

    It goes back to the bureau's pool and rests there until `quarantine_until` (callers of
    the old client may still dial it); None in events written before the pool existed.
    """

    type: Literal["NumberReleased"] = "NumberReleased"
    number: PhoneNumber
    quarantine_until: UtcDatetime | None = None


class NumberAddedToPool(IntakeEvent):
    """Staff added a number the telephony partner provides to the bureau's pool of numbers.

    The pool is the bureau's, not a client's: `client_id` is the nil UUID (POOL_ID).
    """

    type: Literal["NumberAddedToPool"] = "NumberAddedToPool"
    client_id: UUID = POOL_ID
    number: PhoneNumber


class SecretaryBookRevised(IntakeEvent):
    """A new version of the secretary book: the full book as of this version."""

    type: Literal["SecretaryBookRevised"] = "SecretaryBookRevised"
    book_version: int = Field(ge=1)
    greeting: Text
    instructions: LongText = ""
    faq: tuple[FaqEntry, ...] = Field(default=(), max_length=500)
    urgency_rules: tuple[UrgencyRule, ...] = Field(default=(), max_length=50)
    escalation_contacts: tuple[EscalationContact, ...] = Field(default=(), max_length=20)
    temporary_instructions: tuple[TemporaryInstruction, ...] = Field(default=(), max_length=100)
    after_hours: AfterHours = "email_summary"
    calendar_url: HttpsUrl | None = None

    @model_validator(mode="after")
    def _unique_urgency_kinds(self) -> SecretaryBookRevised:
        kinds = [rule.kind for rule in self.urgency_rules]
        if len(kinds) != len(set(kinds)):
            raise ValueError("urgency rule kinds must be unique")
        return self


class PlanChanged(IntakeEvent):
    """The client's commercial terms change from a given Europe/Amsterdam calendar day."""

    type: Literal["PlanChanged"] = "PlanChanged"
    plan: Plan
    email_handling: EmailHandling
    effective_from: date


class NotificationPreferencesChanged(IntakeEvent):
    """How and to whom call messages are sent changed."""

    type: Literal["NotificationPreferencesChanged"] = "NotificationPreferencesChanged"
    notification: NotificationPreferences


class OfficeHoursChanged(IntakeEvent):
    """The client's office hours (schedule, holidays, closures) were replaced."""

    type: Literal["OfficeHoursChanged"] = "OfficeHoursChanged"
    office_hours: OfficeHours


class ClientOffboarded(IntakeEvent):
    """The client left; its numbers are released separately."""

    type: Literal["ClientOffboarded"] = "ClientOffboarded"
    reason: ShortText = ""


class EnquiryRecorded(IntakeEvent):
    """Onboarding begins: a prospective client got in touch; who, and what they wish for."""

    type: Literal["EnquiryRecorded"] = "EnquiryRecorded"
    contact_name: Name
    phone: PhoneNumber | None = None
    wishes: LongText = ""


class QuoteIssued(IntakeEvent):
    """The bureau quoted the chosen plan and its amounts, valid until a Europe/Amsterdam day."""

    type: Literal["QuoteIssued"] = "QuoteIssued"
    plan: Plan
    email_handling: EmailHandling = EmailHandling()
    call_rate_cents: Cents
    setup_fee_cents: Cents
    valid_until: date


class IntakeFormReceived(IntakeEvent):
    """The intake form came back complete: its content is the book version named here (and
    the preferences, office hours and urgency rules recorded with their own events)."""

    type: Literal["IntakeFormReceived"] = "IntakeFormReceived"
    book_version: int = Field(ge=1)


class TermsAccepted(IntakeEvent):
    """The client accepted a version of the bureau's general terms: which, when, by whom."""

    type: Literal["TermsAccepted"] = "TermsAccepted"
    terms_version: Slug
    accepted_by: Name
    accepted_at: UtcDatetime


TelephonyMethod = Literal["twilio", "checklist"]
"""How the number was set up: through the Twilio REST API, or by staff ticking a checklist."""


class TelephonyConfigured(IntakeEvent):
    """The bureau's exchange answers the client's number (its voice webhook is set)."""

    type: Literal["TelephonyConfigured"] = "TelephonyConfigured"
    number: PhoneNumber
    method: TelephonyMethod
    voice_url: HttpsUrl | None = None


class OffboardingScheduled(IntakeEvent):
    """The client leaves at a chosen moment (no notice period): until then calls are taken;
    at `effective_at` intake records ClientOffboarded and the numbers go into quarantine."""

    type: Literal["OffboardingScheduled"] = "OffboardingScheduled"
    effective_at: UtcDatetime
    reason: ShortText = ""


class OffboardingCancelled(IntakeEvent):
    """The client stays after all: the departure scheduled for `was_effective_at` is off."""

    type: Literal["OffboardingCancelled"] = "OffboardingCancelled"
    was_effective_at: UtcDatetime
    reason: ShortText = ""


ApiKeyRole = Literal["client", "operator"]
"""What a machine client may do with a key: act as the client itself, or as the desk for it."""


class ApiKeyIssued(IntakeEvent):
    """Staff issued an API key for a machine client (a CRM, an integration) of one client.

    Only the SHA-256 of the key's secret travels: the secret was shown once, to staff, and no
    service can give it back.
    """

    type: Literal["ApiKeyIssued"] = "ApiKeyIssued"
    key_id: UUID
    name: Name
    role: ApiKeyRole
    secret_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApiKeyRevoked(IntakeEvent):
    """Staff revoked an API key: from now on every service refuses it."""

    type: Literal["ApiKeyRevoked"] = "ApiKeyRevoked"
    key_id: UUID


class BillingDetailsChanged(IntakeEvent):
    """Whom the invoices are addressed to: the legal name, the postal address and the VAT and
    Chamber of Commerce numbers a Dutch invoice names (the latest one counts)."""

    type: Literal["BillingDetailsChanged"] = "BillingDetailsChanged"
    legal_name: Name
    address_lines: tuple[ShortText, ...] = Field(min_length=1, max_length=4)
    postcode: ShortText = Field(min_length=1, max_length=16)
    city: ShortText = Field(min_length=1, max_length=100)
    country: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    vat_number: str | None = Field(default=None, pattern=r"^[A-Z]{2}[0-9A-Z+*.]{2,12}$")
    kvk_number: str | None = Field(default=None, pattern=r"^[0-9]{8}$")


class BookChangeRequested(IntakeEvent):
    """The client asks the bureau to change its secretary book, in its own words; staff write
    the new version (SecretaryBookRevised) from it."""

    type: Literal["BookChangeRequested"] = "BookChangeRequested"
    request_id: UUID
    text: Text = Field(min_length=1)
    book_version: int | None = Field(default=None, ge=1, description="The version it was read in")


class BookHandedOver(IntakeEvent):
    """Every version of the secretary book went to the client, nothing being owed."""

    type: Literal["BookHandedOver"] = "BookHandedOver"
    format: Literal["pdf", "json"]
    versions: int = Field(ge=1)
    latest_version: int = Field(ge=1)


INTAKE_EVENTS: tuple[type[IntakeEvent], ...] = (
    ClientRegistered,
    ClientActivated,
    NumberAssigned,
    NumberReleased,
    SecretaryBookRevised,
    PlanChanged,
    NotificationPreferencesChanged,
    OfficeHoursChanged,
    ClientOffboarded,
    ApiKeyIssued,
    ApiKeyRevoked,
    NumberAddedToPool,
    EnquiryRecorded,
    QuoteIssued,
    IntakeFormReceived,
    TermsAccepted,
    TelephonyConfigured,
    OffboardingScheduled,
    OffboardingCancelled,
    BookHandedOver,
    BookChangeRequested,
    BillingDetailsChanged,
)
