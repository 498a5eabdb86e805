"""The notify API's request and response models, kept apart from events and table rows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from libs.events.notify import NotificationKind
from libs.events.values import Name, ShortText
from services.notify.domain.model import Channel
from services.notify.domain.welcome import CODE_PATTERN

Code = Annotated[str, Field(max_length=40, pattern=CODE_PATTERN)]

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


class ForwardingCodesPut(BaseModel):
    """How a provider's (or exchange's) lines forward calls to the bureau and stop.

    Each code is stars, hashes and digits, with `{number}` where the bureau's number goes.
    """

    model_config = ConfigDict(extra="forbid")

    name: Name
    forward_all: Code = Field(min_length=1, examples=["*21*{number}#"])
    stop_all: Code = Field(min_length=1, examples=["##21#"])
    forward_busy: Code = ""
    forward_no_answer: Code = ""
    forward_unreachable: Code = ""
    stop_conditional: Code = ""
    note: ShortText = ""


class ForwardingCodesRead(BaseModel):
    """A provider's forwarding codes, as the welcome mail lists them."""

    provider: str
    name: str
    forward_all: str
    stop_all: str
    forward_busy: str
    forward_no_answer: str
    forward_unreachable: str
    stop_conditional: str
    note: str
