"""The inbox API's request and response models, kept apart from events and table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from libs.events.inbox import SendAs
from libs.events.values import EmailAddress, Language, LongText, ShortText, Text


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class MailboxPut(Request):
    """How the bureau handles the client's mail."""

    client_address: EmailAddress = Field(description="The client's own address (info@ ...)")
    answer_within_minutes: int = Field(
        ge=5, le=60 * 24 * 10, description="The agreed answer time, counted in office hours"
    )
    send_as: SendAs = Field(
        description="client: replies come from the client's address (its domain must allow "
        "the bureau's relay); on_behalf: from the bureau's, with the client as Reply-To"
    )


class ReplyCreate(Request):
    """An operator's answer to the conversation's last mail."""

    text: Annotated[LongText, Field(min_length=1)]


class ForwardCreate(Request):
    """Forward the conversation's last mail to the client, with a note."""

    note: Text = ""


class HandledCreate(Request):
    """Nothing more to do."""

    comment: ShortText = ""


class AssignCreate(Request):
    """Who takes the conversation."""

    operator_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@:-]{1,100}$")]


class MailboxRead(BaseModel):
    """A client's mailbox as the bureau handles it."""

    client_id: UUID
    forwarding_address: str
    client_address: str
    client_name: str
    answer_within_minutes: int
    send_as: SendAs
    updated_at: datetime


class MailRead(BaseModel):
    """One mail of a conversation, in or out."""

    mail_id: UUID
    message_id: str
    direction: Literal["in", "out"]
    sender: str
    subject: str
    received_at: datetime


class AttachmentRead(BaseModel):
    """An attachment kept: download it at /mails/{mail_id}/attachments/{sha256}."""

    filename: str
    content_type: str
    size: int
    sha256: str


class LeftOutRead(BaseModel):
    """An attachment not kept (larger than the limit, or beyond the 50 a mail may carry)."""

    filename: str
    content_type: str
    size: int


class MailContent(MailRead):
    """One mail as an operator reads it."""

    client_id: UUID
    conversation_id: UUID
    sender_name: str
    text: str
    html: str = Field(description="Cleaned: no scripts, event handlers or javascript: links")
    attachments: list[AttachmentRead]
    left_out: list[LeftOutRead]


class ConversationRead(BaseModel):
    """A conversation and where it stands."""

    conversation_id: UUID
    client_id: UUID
    topic: str
    language: Language
    status: Literal["open", "replied", "forwarded", "handled", "spam"]
    due_at: datetime
    assigned_to: str | None
    escalated: bool
    mails: int
    created_at: datetime
    updated_at: datetime
    thread: list[MailRead] = []


class OutgoingRead(BaseModel):
    """A reply or forward on its way out: queued (also while being handed over), sent, or
    failed (the outbox gave up on it)."""

    outgoing_id: UUID
    kind: Literal["reply", "forward"]
    message_id: str
    rcpt_to: list[str]
    state: Literal["queued", "sent", "failed"]
    attempts: int
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


class ConversationDetail(ConversationRead):
    """A conversation with its mails, and how far each reply or forward got on its way out."""

    outgoing_mails: list[OutgoingRead] = []


class AnsweredRead(ConversationRead):
    """A conversation just answered, and its answer as queued for the relay."""

    outgoing: OutgoingRead


class ImapPut(Request):
    """Read the client's own mailbox over IMAP (the login is sealed, never shown again)."""

    host: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True
    username: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]+$")]
    password: SecretStr
    folder: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n\"\x00]+$")] = (
        "INBOX"
    )


class ImapRead(BaseModel):
    """The client's mailbox as the bureau reads it: never its password."""

    client_id: UUID
    host: str
    port: int
    tls: bool
    username: str
    folder: str
    last_uid: int
    last_read_at: datetime | None
    last_error: str
