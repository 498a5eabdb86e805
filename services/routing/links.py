"""Signed acknowledgement links: `GET /escalations/{id}/ack?token=<attempt>.<mac>`.

The MAC is HMAC-SHA256 over "<escalation id>:<attempt>" with routing's ack secret, so a link
acknowledges one attempt of one escalation and nothing else, and cannot be forged or altered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlencode
from uuid import UUID

from libs.events import EscalationDispatched, Event
from services.routing.settings import RoutingSettings

Emit = Callable[[str, int | None, Sequence[Event]], Awaitable[object]]

_TOKEN = re.compile(r"^([1-9][0-9]{0,5})\.([A-Za-z0-9_-]{43})$")


def ack_token(secret: str, escalation_id: UUID, attempt: int) -> str:
    """The token that acknowledges `attempt` of an escalation."""
    return f"{attempt}.{_mac(secret, escalation_id, attempt)}"


def verified_attempt(secret: str, escalation_id: UUID, token: str) -> int | None:
    """The attempt a token acknowledges, or None when it is no valid token for the escalation."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    attempt = int(match.group(1))
    expected = _mac(secret, escalation_id, attempt)
    return attempt if hmac.compare_digest(expected, match.group(2)) else None


def ack_link(base_url: str, secret: str, escalation_id: UUID, attempt: int) -> str:
    """The URL a contact opens to acknowledge an attempt (put in the SMS, e-mail or chat)."""
    query = urlencode({"token": ack_token(secret, escalation_id, attempt)})
    return f"{base_url.rstrip('/')}/escalations/{escalation_id}/ack?{query}"


def _mac(secret: str, escalation_id: UUID, attempt: int) -> str:
    message = f"{escalation_id}:{attempt}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def stamping(config: RoutingSettings, emit: Emit) -> Emit:
    """An emit that puts the signed acknowledgement link into every EscalationDispatched."""
    if config.ack_secret is None or config.public_base_url is None:
        return emit  # no links to give: contacts acknowledge through the API
    base, secret = config.public_base_url, config.ack_secret.get_secret_value()

    def stamp(event: Event) -> Event:
        if not isinstance(event, EscalationDispatched):
            return event
        link = ack_link(base, secret, event.escalation_id, event.attempt)
        return event.model_copy(update={"ack_url": link})

    async def stamped(stream_id: str, expected: int | None, events: Sequence[Event]) -> object:
        return await emit(stream_id, expected, [stamp(event) for event in events])

    return stamped
