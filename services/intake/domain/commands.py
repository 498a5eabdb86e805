"""What staff (or the client) ask the intake service to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from libs.events import (
    Actor,
    EmailHandling,
    EscalationContact,
    FaqEntry,
    Language,
    NotificationPreferences,
    OfficeHours,
    Plan,
    TemporaryInstruction,
    UrgencyRule,
    new_id,
)
from libs.events.intake import POOL_ID, AfterHours, ApiKeyRole, TelephonyMethod
from services.intake.domain.pool import DEFAULT_QUARANTINE

STAFF = Actor(kind="staff")


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command: which client, when, by whom; one correlation for its events."""

    client_id: UUID
    at: datetime
    actor: Actor = STAFF
    correlation_id: UUID = field(default_factory=new_id)


@dataclass(frozen=True, kw_only=True)
class RegisterClient(Command):
    """Sign up a new client from the intake form."""

    name: str
    contact_email: str
    language: Language
    plan: Plan
    notification: NotificationPreferences
    email_handling: EmailHandling = field(default_factory=EmailHandling)
    office_hours: OfficeHours = field(default_factory=OfficeHours)
    cold_calls_free: bool = False


@dataclass(frozen=True, kw_only=True)
class ActivateClient(Command):
    """The intake is complete: the client may start forwarding calls."""


@dataclass(frozen=True, kw_only=True)
class OffboardClient(Command):
    """The client leaves at `effective_at` (None or past: now); its numbers go back to the
    pool and rest there for `quarantine`."""

    reason: str = ""
    quarantine: timedelta = DEFAULT_QUARANTINE
    effective_at: datetime | None = None
    scheduled: bool = False
    """Recorded by the loop at the moment chosen before: refused unless that moment still
    stands (it may have been cancelled since the loop read it)."""


@dataclass(frozen=True, kw_only=True)
class CancelOffboarding(Command):
    """The client stays: the departure scheduled for later is called off."""

    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AssignNumber(Command):
    """Reserve a forwarding number for the client: the one named, or (None) the next free one.

    A named number the pool does not have yet is added to it in the same step (staff only).
    """

    number: str | None


@dataclass(frozen=True, kw_only=True)
class ReleaseNumber(Command):
    """Take a forwarding number back from the client; it rests in the pool for `quarantine`."""

    number: str
    quarantine: timedelta = DEFAULT_QUARANTINE


@dataclass(frozen=True, kw_only=True)
class AddNumbersToPool(Command):
    """Staff add numbers the telephony partner provides; those in the pool already are left."""

    client_id: UUID = POOL_ID
    numbers: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BookContent:
    """The whole secretary book as staff wrote it."""

    greeting: str
    instructions: str = ""
    faq: tuple[FaqEntry, ...] = ()
    urgency_rules: tuple[UrgencyRule, ...] = ()
    escalation_contacts: tuple[EscalationContact, ...] = ()
    temporary_instructions: tuple[TemporaryInstruction, ...] = ()
    after_hours: AfterHours = "email_summary"
    calendar_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReviseBook(Command):
    """Write a new version of the book; `expected_version` guards against lost edits."""

    content: BookContent
    expected_version: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChangePlan(Command):
    """New commercial terms from a day on; e-mail handling stays as it was when not given."""

    plan: Plan
    effective_from: date
    email_handling: EmailHandling | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeNotification(Command):
    """Replace how and to whom call messages are sent."""

    notification: NotificationPreferences


@dataclass(frozen=True, kw_only=True)
class ChangeOfficeHours(Command):
    """Replace the client's office hours."""

    office_hours: OfficeHours


@dataclass(frozen=True, kw_only=True)
class IssueApiKey(Command):
    """Issue an API key for a machine client of the client; only the secret's digest is kept."""

    key_id: UUID
    role: ApiKeyRole
    name: str
    secret_sha256: str


@dataclass(frozen=True, kw_only=True)
class RevokeApiKey(Command):
    """Revoke one of the client's API keys: from then on every service refuses it."""

    key_id: UUID


@dataclass(frozen=True, kw_only=True)
class RecordEnquiry(Command):
    """A prospective (registered) client got in touch: onboarding begins."""

    contact_name: str
    phone: str | None = None
    wishes: str = ""


@dataclass(frozen=True, kw_only=True)
class IssueQuote(Command):
    """Quote the chosen plan (default: the one in force) until a Europe/Amsterdam day."""

    valid_until: date
    plan: Plan | None = None
    email_handling: EmailHandling | None = None


@dataclass(frozen=True, kw_only=True)
class ReceiveIntakeForm(Command):
    """The intake form is back complete; its content is the book as written so far."""


@dataclass(frozen=True, kw_only=True)
class AcceptTerms(Command):
    """The client accepted a version of the general terms."""

    terms_version: str
    accepted_by: str


@dataclass(frozen=True, kw_only=True)
class ConfirmTelephony(Command):
    """The exchange answers the client's number: set through Twilio, or ticked by staff."""

    method: TelephonyMethod
    voice_url: str | None = None
