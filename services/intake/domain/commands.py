"""What staff (or the client) ask the intake service to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
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
from libs.events.intake import AfterHours, ApiKeyRole

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
    """The client leaves; its numbers go back to the bureau."""

    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class AssignNumber(Command):
    """Reserve a forwarding number for the client."""

    number: str


@dataclass(frozen=True, kw_only=True)
class ReleaseNumber(Command):
    """Take a forwarding number back from the client."""

    number: str


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
