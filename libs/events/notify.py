"""Events of the notify service: what was sent to a client, or failed to be."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from libs.events.envelope import Event, Service
from libs.events.routing import BUREAU_ID
from libs.events.values import (
    E164_PATTERN,
    EMAIL_PATTERN,
    Email,
    PhoneNumber,
    ShortText,
    Slug,
    Text,
    WebUrl,
)

NotificationChannel = Literal["email", "sms", "chat"]
"""How a message travelled: SMTP, the SMS provider, or a chat incoming webhook (Teams, Slack)."""
NotificationKind = Literal["per_call", "daily_digest", "voicemail_summary", "escalation", "welcome"]
DedupeKey = Annotated[str, StringConstraints(min_length=1, max_length=300)]
"""Identifies one logical message: a second send with the same key is a duplicate."""


class NotificationEvent(Event):
    """Base of the events the notify service emits; one message to one set of recipients."""

    service: ClassVar[Service] = "notify"

    notification_id: UUID
    channel: NotificationChannel
    kind: NotificationKind
    recipients: tuple[Email | PhoneNumber | WebUrl, ...] = Field(min_length=1, max_length=20)
    dedupe_key: DedupeKey
    call_ids: tuple[UUID, ...] = Field(default=(), max_length=5000)

    @model_validator(mode="after")
    def _recipients_fit_channel(self) -> NotificationEvent:
        pattern, what = _RECIPIENTS[self.channel]
        if not all(re.match(pattern, r) for r in self.recipients):
            raise ValueError(f"recipients must all be {what}")
        return self


_RECIPIENTS: dict[str, tuple[str, str]] = {
    "email": (EMAIL_PATTERN, "e-mail addresses"),
    "sms": (E164_PATTERN, "phone numbers"),
    "chat": (r"^https?://", "webhook URLs"),
}


class NotificationSent(NotificationEvent):
    """The message was accepted by the mail relay, SMS gateway or chat webhook."""

    type: Literal["NotificationSent"] = "NotificationSent"
    message_id: ShortText = Field(min_length=1)


class NotificationFailed(NotificationEvent):
    """The message could not be delivered; `permanent` means no retry will follow."""

    type: Literal["NotificationFailed"] = "NotificationFailed"
    message_id: ShortText | None = None
    error: Text
    permanent: bool


ForwardingCode = Annotated[
    str, StringConstraints(max_length=40, pattern=r"^[*#0-9]{0,12}(\{number\}[*#0-9]{0,12})?$")
]
"""A code a client dials to forward calls: stars, hashes, digits, `{number}` at most once."""


class ForwardingCodesEvent(Event):
    """Base of the bureau's table of forwarding codes per provider (the welcome mail's)."""

    service: ClassVar[Service] = "notify"

    client_id: UUID = BUREAU_ID
    provider: Slug


class ForwardingCodesSet(ForwardingCodesEvent):
    """Staff set how a provider's (or exchange's) lines forward calls and stop."""

    type: Literal["ForwardingCodesSet"] = "ForwardingCodesSet"
    name: ShortText = Field(min_length=1)
    forward_all: ForwardingCode = Field(min_length=1)
    stop_all: ForwardingCode = Field(min_length=1)
    forward_busy: ForwardingCode = ""
    forward_no_answer: ForwardingCode = ""
    forward_unreachable: ForwardingCode = ""
    stop_conditional: ForwardingCode = ""
    note: ShortText = ""


class ForwardingCodesRemoved(ForwardingCodesEvent):
    """Staff removed a provider from the table."""

    type: Literal["ForwardingCodesRemoved"] = "ForwardingCodesRemoved"


NOTIFY_EVENTS: tuple[type[NotificationEvent], ...] = (NotificationSent, NotificationFailed)
FORWARDING_EVENTS: tuple[type[ForwardingCodesEvent], ...] = (
    ForwardingCodesSet,
    ForwardingCodesRemoved,
)
