"""What can be asked of a call, and what the directory knows about a dialled number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from libs.events.calls import FollowUp, MailEvidence, NonBillableReason
from libs.events.envelope import Actor
from libs.events.values import Language, OfficeHours

ClientStatus = Literal["registered", "active", "offboarded"]
MAX_BACKDATE = timedelta(hours=1)
"""How far before now a call may be reported as received, unless staff import it."""


@dataclass(frozen=True)
class Line:
    """What calls' projection of intake knows about the client holding a number.

    `held_since` is when that client's assignment of the number began: the assignment in force
    at the call, or else the current one (then later than the call).
    """

    client_id: UUID
    status: ClientStatus
    book_version: int | None
    office_hours: OfficeHours
    held_since: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class CallCommand:
    """Base of every command: the call it is about, when it is given and by whom.

    `tenant` is the one client whose calls the caller may reach (a client-bound API key);
    None for a caller that reaches every client's calls (staff, operators, telephony).
    """

    call_id: UUID
    at: datetime
    actor: Actor | None = None
    tenant: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class ReceiveCall(CallCommand):
    """Telephony reports a call to a reserved number; `line` is filled in from the directory.

    `imported` marks a call staff import from elsewhere: it may lie further back than
    `max_backdate` (the service's setting), but never before its number was the client's. Only
    an actor of kind staff may import.
    """

    dialled_number: str
    caller_number: str | None
    received_at: datetime
    caller_language: Language | None = None
    imported: bool = False
    max_backdate: timedelta = MAX_BACKDATE
    line: Line | None = None


@dataclass(frozen=True, kw_only=True)
class AnswerCall(CallCommand):
    """An operator picks up, speaking a language."""

    operator_id: str
    language: Language


@dataclass(frozen=True, kw_only=True)
class RecordNote(CallCommand):
    """The operator writes the message for the client."""

    operator_id: str | None
    caller_name: str
    caller_company: str = ""
    caller_number: str | None = None
    message: str
    follow_up: FollowUp = "none"
    follow_up_detail: str = ""
    actions_taken: str = ""
    information_given: str = ""


@dataclass(frozen=True, kw_only=True)
class RequestEscalation(CallCommand):
    """The operator judges the call urgent; `urgency_kinds` are the book's rules on screen."""

    escalation_id: UUID
    urgency_kind: str
    reason: str
    urgency_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class TransferCall(CallCommand):
    """The operator puts the call through to another number."""

    to_number: str
    escalation_id: UUID | None = None


@dataclass(frozen=True, kw_only=True)
class RecordVoicemail(CallCommand):
    """Nobody answered (after hours, or no operator free): the caller left a message."""

    recording_ref: str
    duration_seconds: int
    summary: str = ""


@dataclass(frozen=True, kw_only=True)
class EndCall(CallCommand):
    """The line is closed."""


@dataclass(frozen=True, kw_only=True)
class MarkNonBillable(CallCommand):
    """The call must not be billed; `cold_calls_free` is the client's term, from the directory."""

    reason: NonBillableReason
    comment: str = ""
    cold_calls_free: bool = False
    evidence: MailEvidence | None = None


@dataclass(frozen=True, kw_only=True)
class RestoreBillability(CallCommand):
    """Revert a non-billable mark."""

    comment: str = ""


Command = (
    ReceiveCall
    | AnswerCall
    | RecordNote
    | RequestEscalation
    | TransferCall
    | RecordVoicemail
    | EndCall
    | MarkNonBillable
    | RestoreBillability
)
