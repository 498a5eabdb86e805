"""The notify API's request and response models, kept apart from events and table rows."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.events.notify import NotificationKind
from services.notify.domain.model import Channel

State = Literal["pending", "sending", "sent", "failed"]


class DigestRunCreate(BaseModel):
    """Run the daily digests of one local day now (default: each client's own today)."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = Field(
        default=None,
        description="Calendar day in each client's office timezone (default Europe/Amsterdam); "
        "clients for whom it has not begun yet are left out",
    )


class DigestRead(BaseModel):
    """One client's digest of the day: its notification, or none when nothing was reported."""

    client_id: UUID
    day: dt.date
    notification_id: UUID | None
    calls: int
    created: bool = Field(description="False when this run found the digest made earlier")


class DigestRunRead(BaseModel):
    """What a digest run did, client by client."""

    date: dt.date = Field(description="The requested day, else today in Europe/Amsterdam")
    digests: list[DigestRead]


class NotificationRead(BaseModel):
    """A notification and how far it got."""

    notification_id: UUID
    client_id: UUID
    channel: Channel
    kind: NotificationKind
    state: State
    recipients: list[str]
    subject: str
    call_ids: list[UUID]
    message_id: str
    attempts: int
    error: str | None
    permanent: bool | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = None


class NotificationDetail(NotificationRead):
    """A notification with the bodies that were (or will be) sent."""

    body_text: str
    body_html: str | None
