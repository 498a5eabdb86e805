"""When a signed acknowledgement link still acknowledges, as a rule of the domain.

A token is `<attempt>.<mac>`, the MAC being HMAC-SHA256 over "<escalation id>:<attempt>" with
routing's ack secret: it names one attempt of one escalation and cannot be forged or altered.
A link lives while its chain is open and for a time to live after the attempt it belongs to;
after that it shows nothing of the escalation any more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from libs.events.envelope import Event
from services.routing.domain.escalation import Acknowledge, Escalation, acknowledge

DEFAULT_LINK_TTL = timedelta(hours=24)
Verdict = Literal["open", "acknowledged", "exhausted", "expired", "invalid"]
"""What a link can still do: acknowledge (open), or why not."""

_TOKEN = re.compile(r"^([1-9][0-9]{0,5})\.([A-Za-z0-9_-]{43})$")


def ack_token(secret: str, escalation_id: UUID, attempt: int) -> str:
    """The token that acknowledges `attempt` of an escalation."""
    return f"{attempt}.{_mac(secret, escalation_id, attempt)}"


def signed_attempt(secret: str, escalation_id: UUID, token: str) -> int | None:
    """The attempt a token names, or None when it is no token signed for the escalation."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    attempt = int(match.group(1))
    expected = _mac(secret, escalation_id, attempt)
    return attempt if hmac.compare_digest(expected, match.group(2)) else None


def verdict(state: Escalation, attempt: int, now: datetime, ttl: timedelta) -> Verdict:
    """Whether a signed link for `attempt` acknowledges at `now`, or why it is dead.

    Expiry is checked before the chain's end, so a dead link shows nothing of the escalation.
    """
    made = [d for d in state.dispatches if d.attempt == attempt]
    if not made:
        return "invalid"
    if now >= made[0].dispatched_at + ttl:
        return "expired"
    if state.status in ("acknowledged", "exhausted"):
        return state.status
    return "open"


def acknowledge_by_link(
    command: Acknowledge, state: Escalation, ttl: timedelta
) -> tuple[Verdict, list[Event]]:
    """The link's verdict, and the acknowledgement it makes only while it is open."""
    if command.attempt is None:
        raise ValueError("a link acknowledges one attempt: the command names none")
    found = verdict(state, command.attempt, command.at, ttl)
    return found, [acknowledge(command, state)] if found == "open" else []


def _mac(secret: str, escalation_id: UUID, attempt: int) -> str:
    message = f"{escalation_id}:{attempt}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
