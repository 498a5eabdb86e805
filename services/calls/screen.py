"""The screen pop: the call, its client, the book version on screen and the office state."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from libs.events.values import Language
from libs.office_hours import office_status
from services.calls import directory, read_model
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
    db: Queryable, schema: str, call_id: UUID, client_id: UUID | None
) -> dict[str, Any] | None:
    """Everything the operator sees for a call, as of the moment it came in.

    With `client_id` (the caller's tenant), None unless the call is that client's.
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
        "cold_calls_free": card.cold_calls_free,
    }


def active_instructions(book: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
    """The book's temporary instructions in force at an instant."""
    items: list[dict[str, Any]] = book.get("temporary_instructions", [])
    return [item for item in items if _valid_from(item) <= at < _valid_until(item)]


def _valid_from(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["valid_from"])


def _valid_until(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["valid_until"])
