"""Signed acknowledgement links: the URL put into messages, and the page it opens.

`GET /escalations/{id}/ack?token=<attempt>.<mac>` only shows a page about the escalation
(mail scanners open links); its one button POSTs the token to `/escalations/{id}/ack/link`,
which acknowledges. Whether a link still acknowledges is a domain rule (domain/ack_link.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from libs.events import EscalationDispatched, Event
from libs.events.values import Language
from services.routing.directory import FALLBACK_LANGUAGE, ClientFacts
from services.routing.domain.ack_link import Verdict, ack_token
from services.routing.domain.escalation import Escalation
from services.routing.settings import RoutingSettings

Emit = Callable[[str, int | None, Sequence[Event]], Awaitable[object]]
PageStatus = Literal["open", "taken", "acknowledged", "exhausted", "expired", "invalid"]
"""What the page says: the link's verdict, or `taken` right after its button acknowledged."""
TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES: tuple[Language, ...] = get_args(Language)
_LANGUAGE_TAG = re.compile(r"^\s*([A-Za-z]{2})(?:[-_][A-Za-z0-9]+)*\s*(?:;.*)?$")


def ack_link(base_url: str, secret: str, escalation_id: UUID, attempt: int) -> str:
    """The URL a contact opens to acknowledge an attempt (put in the SMS, e-mail or chat)."""
    query = urlencode({"token": ack_token(secret, escalation_id, attempt)})
    return f"{base_url.rstrip('/')}/escalations/{escalation_id}/ack?{query}"


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


@dataclass(frozen=True)
class LinkPage:
    """What one link's page shows; the escalation only while the link lives."""

    status: PageStatus
    language: Language
    attempt: int = 0
    token: str = ""
    state: Escalation | None = None
    facts: ClientFacts | None = None


def page_of(
    verdict: Verdict | Literal["taken"], attempt: int, token: str,
    state: Escalation, facts: ClientFacts | None,
) -> LinkPage:  # fmt: skip
    """The page for a signed link, in the client's language."""
    language = facts.language if facts else FALLBACK_LANGUAGE
    if verdict in ("expired", "invalid"):
        return LinkPage(verdict, language)
    return LinkPage(verdict, language, attempt, token, state, facts)


def render(page: LinkPage) -> str:
    """The page as HTML (autoescaped: names and kinds are shown, never interpreted)."""
    t = labels(page.language)
    state, status = page.state, page.status
    zone = ZoneInfo(page.facts.office_hours.timezone if page.facts else "Europe/Amsterdam")
    closed = _when(t, state.closed_at, zone) if state and state.closed_at else ""
    name = (state.acknowledged_by if state else None) or ""
    context = {
        "t": t,
        "language": page.language,
        "status": status,
        "title": t[f"title_{status}"],
        "text": t[f"text_{status}"].format(name=name, time=closed),
        "details": _details(t, page, zone),
        "form": {"action": "ack/link", "token": page.token} if status == "open" else None,
    }
    return _environment().get_template("ack_page.html.j2").render(context)


def language_of(accept_language: str | None) -> Language:
    """The first of the page's languages a browser asks for (the bureau's own by default)."""
    for part in (accept_language or "").split(","):
        match = _LANGUAGE_TAG.match(part)
        tag = match.group(1).lower() if match else ""
        for language in LANGUAGES:
            if tag == language:
                return language
    return FALLBACK_LANGUAGE


def labels(language: Language) -> dict[str, Any]:
    """The page's texts in one language."""
    return _labels(TEMPLATES, language)


def _details(t: dict[str, Any], page: LinkPage, zone: ZoneInfo) -> dict[str, Any] | None:
    state = page.state
    if state is None:
        return None
    return {
        "company": page.facts.name if page.facts else "-",
        "urgency": state.urgency_kind,
        "raised_at": _when(t, state.requested_at, zone),
        "raised_iso": state.requested_at.astimezone(zone).isoformat(timespec="minutes"),
        "attempt": page.attempt,
    }


def _when(t: dict[str, Any], at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime(t["datetime_format"])


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined
    )


@cache
def _labels(directory: Path, language: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((directory / "i18n" / f"{language}.json").read_text("utf-8"))
    return found
