"""Events of the inbox service: the client's mailbox, the mails that come in, and the
conversations the bureau answers within the agreed time.

A mail's text and cleaned HTML travel in its event (bounded); its attachments do not: they
are stored apart, and the event names each by size and SHA-256. Mailbox passwords are never
in these events.
"""

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
    LongText,
    ShortText,
    UtcDatetime,
    ValueObject,
)

SendAs = Literal["client", "on_behalf"]
"""Replies go out from the client's own address, or from the bureau's on the client's behalf."""
Via = Literal["forward", "imap"]
"""How a mail came in: forwarded to the bureau's address, or read from the client's mailbox."""
MessageId = ShortText


class InboxEvent(Event):
    """Base of the events the inbox service emits; each belongs to one client."""

    service: ClassVar[Service] = "inbox"


class MailboxConfigured(InboxEvent):
    """How the bureau handles the client's mail: where it arrives, how fast it is answered,
    whose address the answers come from."""

    type: Literal["MailboxConfigured"] = "MailboxConfigured"
    forwarding_address: Email
    client_address: Email
    client_name: ShortText = Field(min_length=1)
    answer_within_minutes: int = Field(ge=5, le=60 * 24 * 10)
    send_as: SendAs
    imap_host: ShortText = ""
    imap_user: ShortText = ""


class AttachmentRef(ValueObject):
    """An attachment kept apart from the event: its name, type, size and fingerprint."""

    filename: ShortText
    content_type: ShortText
    size: Count
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class LeftOut(ValueObject):
    """An attachment of a mail that was not kept, and why (the rest of the mail was)."""

    filename: ShortText
    content_type: ShortText
    size: Count
    reason: ShortText


class ConversationEvent(InboxEvent):
    """Base of a conversation's events; one stream per conversation."""

    conversation_id: UUID


class ConversationOpened(ConversationEvent):
    """A mail that answers nothing known opened a conversation."""

    type: Literal["ConversationOpened"] = "ConversationOpened"
    topic: ShortText
    language: Language


class MailReceived(ConversationEvent):
    """A mail came in (once, however often it was delivered or fetched)."""

    type: Literal["MailReceived"] = "MailReceived"
    mail_id: UUID
    message_id: MessageId = Field(min_length=1)
    via: Via
    sender: Email
    sender_name: ShortText = ""
    subject: ShortText = ""
    text: LongText = ""
    html: LongText = ""
    in_reply_to: MessageId | None = None
    attachments: tuple[AttachmentRef, ...] = Field(default=(), max_length=50)
    left_out: tuple[LeftOut, ...] = Field(
        default=(), max_length=50, description="Attachments not kept (too big, too many)"
    )
    received_at: UtcDatetime
    due_at: UtcDatetime = Field(description="When the bureau's answer is due (office time)")


class ConversationAssigned(ConversationEvent):
    """The conversation was given to an operator who reads its language."""

    type: Literal["ConversationAssigned"] = "ConversationAssigned"
    operator_id: Identifier


class ReplySent(ConversationEvent):
    """An operator's reply, threaded to the mail it answers, recorded and queued for the relay
    under this Message-ID (the inbox's outbox sends it; AnswerUndeliverable follows if the
    relay never takes it)."""

    type: Literal["ReplySent"] = "ReplySent"
    message_id: MessageId = Field(min_length=1)
    in_reply_to: MessageId = Field(min_length=1)
    to: Email
    subject: ShortText
    text: LongText


class ConversationForwarded(ConversationEvent):
    """The conversation's last mail, forwarded to the client: recorded and queued for the relay
    under this Message-ID (AnswerUndeliverable follows if the relay never takes it)."""

    type: Literal["ConversationForwarded"] = "ConversationForwarded"
    to: Email
    message_id: MessageId = Field(min_length=1)


class ConversationHandled(ConversationEvent):
    """Nothing more to do for the conversation."""

    type: Literal["ConversationHandled"] = "ConversationHandled"
    comment: ShortText = ""


class ConversationMarkedSpam(ConversationEvent):
    """The conversation is spam: no answer, no escalation."""

    type: Literal["ConversationMarkedSpam"] = "ConversationMarkedSpam"


class ConversationEscalated(ConversationEvent):
    """The answer is overdue: the desk is alerted and anyone who reads the language may take it."""

    type: Literal["ConversationEscalated"] = "ConversationEscalated"
    due_at: UtcDatetime
    assigned_to: Identifier | None = None


class AnswerUndeliverable(ConversationEvent):
    """A reply or forward the relay never took, however often tried: the conversation awaits
    an answer again, due at once."""

    type: Literal["AnswerUndeliverable"] = "AnswerUndeliverable"
    message_id: MessageId = Field(min_length=1)
    kind: Literal["reply", "forward"]
    reason: ShortText = ""


class AnnouncedMailFound(InboxEvent):
    """A caller who said on the phone they would e-mail did so: the call is proposed as not
    billable, with this mail as the evidence (an operator or the client confirms, in calls).

    One per call: its stream is the call's (see services/inbox/follow_ups.py).
    """

    type: Literal["AnnouncedMailFound"] = "AnnouncedMailFound"
    call_id: UUID
    conversation_id: UUID
    mail_id: UUID
    message_id: MessageId = Field(min_length=1)
    sender: Email
    subject: ShortText = ""
    received_at: UtcDatetime
    matched_by: Literal["address", "number"] = Field(
        description="The mail came from the address the operator noted, or its text carries "
        "the caller's phone number"
    )


INBOX_EVENTS: tuple[type[InboxEvent], ...] = (
    MailboxConfigured,
    ConversationOpened,
    MailReceived,
    ConversationAssigned,
    ReplySent,
    ConversationForwarded,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationEscalated,
    AnswerUndeliverable,
    AnnouncedMailFound,
)
