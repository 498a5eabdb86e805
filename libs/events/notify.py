"""Events of the notify service: what was sent to a client, or failed to be."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from libs.events.envelope import Event, Service
from libs.events.values import Email, PhoneNumber, ShortText, Text

NotificationChannel = Literal["email", "sms"]
NotificationKind = Literal["per_call", "daily_digest", "voicemail_summary", "escalation"]
DedupeKey = Annotated[str, StringConstraints(min_length=1, max_length=300)]
"""Identifies one logical message: a second send with the same key is a duplicate."""


class NotificationEvent(Event):
    """Base of the events the notify service emits; one message to one set of recipients."""

    service: ClassVar[Service] = "notify"

    notification_id: UUID
    channel: NotificationChannel
    kind: NotificationKind
    recipients: tuple[Email | PhoneNumber, ...] = Field(min_length=1, max_length=20)
    dedupe_key: DedupeKey
    call_ids: tuple[UUID, ...] = Field(default=(), max_length=5000)

    @model_validator(mode="after")
    def _recipients_fit_channel(self) -> NotificationEvent:
        is_mail = self.channel == "email"
        if any(("@" in r) != is_mail for r in self.recipients):
            raise ValueError(
                f"recipients must all be {'e-mail addresses' if is_mail else 'phone numbers'}"
            )
        return self


class NotificationSent(NotificationEvent):
    """The message was accepted by the mail relay or SMS gateway."""

    type: Literal["NotificationSent"] = "NotificationSent"
    message_id: ShortText = Field(min_length=1)


class NotificationFailed(NotificationEvent):
    """The message could not be delivered; `permanent` means no retry will follow."""

    type: Literal["NotificationFailed"] = "NotificationFailed"
    message_id: ShortText | None = None
    error: Text
    permanent: bool


NOTIFY_EVENTS: tuple[type[NotificationEvent], ...] = (NotificationSent, NotificationFailed)
