"""What notify knows of the conversations the bureau answers for a client, folded from the
inbox service's events, for the client's daily digest. Pure.

A conversation keeps its topic, its latest mail (sender, subject, when it came, when the
answer is due) and the bureau's latest action on it (replied, forwarded, handled, spam) with
its time. Spam is final: nothing after it is listed. A reply or forward the relay never took
is undone (AnswerUndeliverable). A repeated or older event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

from libs.events.inbox import (
    AnswerUndeliverable,
    ConversationEscalated,
    ConversationEvent,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationOpened,
    MailReceived,
    ReplySent,
)

Action = Literal["replied", "forwarded", "handled", "spam"]
ACTIONS: dict[type[ConversationEvent], Action] = {
    ReplySent: "replied",
    ConversationForwarded: "forwarded",
    ConversationHandled: "handled",
    ConversationMarkedSpam: "spam",
}
"""The inbox events that are something the bureau did with a conversation."""


@dataclass(frozen=True)
class Conversation:
    """One conversation of a client's mail as the digest shows it."""

    conversation_id: UUID
    client_id: UUID
    topic: str = ""
    sender: str = ""
    sender_name: str = ""
    subject: str = ""
    received_at: datetime | None = None
    due_at: datetime | None = None
    action: Action | None = None
    acted_at: datetime | None = None

    @property
    def spam(self) -> bool:
        """Marked as spam: never listed."""
        return self.action == "spam"

    @property
    def awaiting_answer(self) -> bool:
        """A mail came in that the bureau did nothing with since."""
        if self.received_at is None or self.spam:
            return False
        return self.acted_at is None or self.acted_at < self.received_at


def evolve(known: Conversation | None, event: ConversationEvent) -> Conversation:
    """The conversation after one more of its events (the same one again changes nothing)."""
    base = known or Conversation(event.conversation_id, event.client_id)
    if base.spam:
        return base
    match event:
        case ConversationOpened():
            return replace(base, topic=event.topic)
        case MailReceived():
            return _received(base, event)
        case ConversationEscalated():
            return replace(base, due_at=event.due_at) if base.awaiting_answer else base
        case AnswerUndeliverable():
            return _undelivered(base, event)
    action = ACTIONS.get(type(event))
    if action is None or (base.acted_at is not None and event.occurred_at < base.acted_at):
        return base
    return replace(base, action=action, acted_at=event.occurred_at)


def _undelivered(base: Conversation, event: AnswerUndeliverable) -> Conversation:
    """The reply or forward never left: not listed as done; it awaits an answer again."""
    sent = {"reply": "replied", "forward": "forwarded"}[event.kind]
    if base.action != sent or (base.acted_at is not None and event.occurred_at < base.acted_at):
        return base
    return replace(base, action=None, acted_at=None, due_at=event.occurred_at)


def _received(base: Conversation, mail: MailReceived) -> Conversation:
    """The latest mail names the conversation; an older one delivered late does not."""
    if base.received_at is not None and mail.received_at < base.received_at:
        return base
    return replace(
        base,
        sender=mail.sender,
        sender_name=mail.sender_name,
        subject=mail.subject,
        received_at=mail.received_at,
        due_at=mail.due_at,
    )
