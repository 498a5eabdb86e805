"""The port every channel adapter implements, and what travels through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from libs.events.notify import NotificationKind
from services.notify.domain.model import Channel


@dataclass(frozen=True)
class Outgoing:
    """A queued notification as claimed for sending; `resumed`: a lease ran out on it."""

    notification_id: UUID
    dedupe_key: str
    client_id: UUID
    channel: Channel
    kind: NotificationKind
    recipients: tuple[str, ...]
    language: str
    subject: str
    body_text: str
    body_html: str | None
    call_ids: tuple[UUID, ...]
    message_id: str
    attempts: int
    created_at: datetime
    reference_at: datetime | None = None
    correlation_id: UUID | None = None
    resumed: bool = False


class DeliveryError(Exception):
    """A send did not go through; `permanent` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    """Hands one message to a mail server, SMS provider or chat webhook."""

    async def send(self, message: Outgoing) -> None:
        """Return once the other side accepted it; raise DeliveryError otherwise."""
        ...
