"""The screen pop: the call, its client, the book version on screen, the office state and the
client's calendar.

Read from calls' own tables only (its projections of intake and calendar, and its read
model): a call is never kept waiting on another service.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from libs.events.values import Language
from libs.office_hours import office_status
from services.calls import calendars, directory, read_model
from services.calls.domain.calendar import calendar_view
from services.calls.read_model import Queryable

DEFAULT_GREETINGS: dict[Language, str] = {
    "nl": "Goedendag, {name}, waarmee kan ik u helpen?",
    "de": "Guten Tag, {name}, wie kann ich Ihnen helfen?",
    "en": "Good day, {name}, how may I help you?",
    "fr": "Bonjour, {name}, que puis-je faire pour vous ?",
}
"""What the operator says while the client has no secretary book yet."""
_FROM_CALL = (
    "call_id", "received_at", "dialled_number", "caller_number", "book_version", "office_open"
)  # fmt: skip


async def screen_pop(
    db: Queryable,
    schema: str,
    call_id: UUID,
    client_id: UUID | None,
    *,
    now: datetime,
    calendar_stale: timedelta,
) -> dict[str, Any] | None:
    """Everything the operator sees for a call, as of the moment it came in.

    The calendar is shown as of `now`, the moment of the request (a backdated call's client
    is free or busy now, not then); a reading older than `calendar_stale` is stale. With
    `client_id` (the caller's tenant), None unless the call is that client's.
    """
    call = await read_model.get_call(db, schema, call_id, client_id)
    if call is None:
        return None
    card = await directory.client_card(db, schema, call["client_id"], call["book_version"])
    if card is None:
        return None
    received_at: datetime = call["received_at"]
    book = card.book or {}
    return {
        **{key: call[key] for key in _FROM_CALL},
        "client": {"id": card.client_id, "name": card.name, "language": card.language},
        "office_status": office_status(card.office_hours, received_at).reason,
        "greeting": book.get("greeting") or DEFAULT_GREETINGS[card.language].format(name=card.name),
        "instructions": book.get("instructions", ""),
        "faq": book.get("faq", []),
        "urgency_rules": book.get("urgency_rules", []),
        "temporary_instructions": active_instructions(book, received_at),
        "after_hours": book.get("after_hours", "email_summary"),
        "calendar_url": book.get("calendar_url"),
        "calendar": await calendar_of(db, schema, card, now, calendar_stale),
        "cold_calls_free": card.cold_calls_free,
    }


async def calendar_of(
    db: Queryable, schema: str, card: directory.ClientCard, now: datetime, stale: timedelta
) -> dict[str, Any]:
    """The client's calendar at `now`, from calls' last reading of it."""
    calendar = await calendars.linked_calendar(db, schema, card.client_id)
    return asdict(calendar_view(calendar, card.office_hours, now, stale))


def active_instructions(book: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """The book's temporary instructions in force at an instant."""
    items: list[dict[str, Any]] = book.get("temporary_instructions", [])
    return [item for item in items if _valid_from(item) <= at < _valid_until(item)]


def _valid_from(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["valid_from"])


def _valid_until(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["valid_until"])
