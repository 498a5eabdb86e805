"""Conversations: mails threaded by their headers, each due within the client's agreed time.

A mail joins the conversation of the mail it answers (In-Reply-To, then its References from
the newest back); otherwise it starts one. Its answer is due the agreed time after it
arrived, counted in the client's office hours (a mail on Friday at 16:50 with four working
hours is due on Monday morning). Pure: the caller supplies what is known already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from libs.errors import Conflict, Rejected
from libs.events.values import OfficeHours
from libs.office_hours import add_office_time
from services.inbox.domain.mail import Mail


def conversation_of(mail: Mail, known: Mapping[str, UUID]) -> UUID | None:
    """The conversation the mail belongs to, by the Message-IDs it refers to (None: new)."""
    for referred in (mail.in_reply_to, *reversed(mail.references)):
        if referred and referred in known:
            return known[referred]
    return None


def due_at(hours: OfficeHours, arrived_at: datetime, answer_within: timedelta) -> datetime:
    """When the answer to a mail that arrived at `arrived_at` is due, in office time."""
    if answer_within <= timedelta(0):
        raise Rejected("the agreed answer time must be positive")
    due = add_office_time(hours, arrived_at, answer_within)
    if due is None:
        raise Rejected("the client's office never opens: no answer could ever be due")
    return due


Status = Literal["open", "replied", "forwarded", "handled", "spam"]
FINISHED: frozenset[str] = frozenset({"handled", "spam"})


@dataclass(frozen=True)
class Conversation:
    """A conversation and where it stands."""

    conversation_id: UUID
    client_id: UUID
    language: str
    due_at: datetime
    status: Status = "open"
    assigned_to: str | None = None
    escalated: bool = False
    mails: int = 1
    awaiting_since: datetime | None = None
    """When the mail the bureau owes an answer to came in (the first one since the last
    answer); the time to answer counts from it."""

    @property
    def awaiting_answer(self) -> bool:
        """Whether the bureau still owes an answer (a new mail reopens a replied one)."""
        return self.status == "open"


def received_again(
    conversation: Conversation, hours: OfficeHours, arrived_at: datetime, within: timedelta
) -> Conversation:
    """A new mail in the conversation: it is open again, due anew (spam stays spam)."""
    if conversation.status == "spam":
        return replace(conversation, mails=conversation.mails + 1)
    waiting = conversation.awaiting_answer
    due = conversation.due_at if waiting else due_at(hours, arrived_at, within)
    since = conversation.awaiting_since if waiting else arrived_at
    return replace(
        conversation, status="open", due_at=due, escalated=conversation.escalated and waiting,
        mails=conversation.mails + 1, awaiting_since=since,
    )  # fmt: skip


def answered(conversation: Conversation, how: Literal["replied", "forwarded"]) -> Conversation:
    """The bureau replied to the sender, or forwarded the mail to the client."""
    _not_finished(conversation)
    return replace(conversation, status=how)


def undelivered(conversation: Conversation, at: datetime) -> Conversation:
    """The reply or forward never reached the relay: an answer is owed again, due at once.

    A conversation that moved on since (a newer mail, handled, spam) stays where it is.
    """
    if conversation.status not in ("replied", "forwarded"):
        return conversation
    return replace(conversation, status="open", due_at=at, escalated=False)


def finished(conversation: Conversation, how: Literal["handled", "spam"]) -> Conversation:
    """Nothing more to do: handled, or spam."""
    _not_finished(conversation)
    return replace(conversation, status=how)


def assigned(conversation: Conversation, operator_id: str) -> Conversation:
    """The conversation given to an operator."""
    _not_finished(conversation)
    return replace(conversation, assigned_to=operator_id)


def to_escalate(conversation: Conversation, now: datetime) -> bool:
    """Overdue and not escalated yet: it escalates once per wait for an answer."""
    return (
        conversation.awaiting_answer and not conversation.escalated and now >= conversation.due_at
    )


def _not_finished(conversation: Conversation) -> None:
    if conversation.status in FINISHED:
        raise Conflict(f"the conversation is {conversation.status} already")
