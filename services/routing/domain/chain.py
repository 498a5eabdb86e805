"""The escalation chain a secretary book prescribes: contacts in order, each over the rule's
channels in order, one attempt per contact and channel, each with the rule's ack timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from libs.events.intake import Channel, EscalationContact, UrgencyRule

DEFAULT_ACK_TIMEOUT = timedelta(seconds=600)
MAX_TARGET_LENGTH = 500
"""EscalationDispatched.target holds at most 500 characters (a longer chat URL is skipped)."""


@dataclass(frozen=True)
class Book:
    """The parts of one secretary-book version that escalation needs."""

    book_version: int
    urgency_rules: tuple[UrgencyRule, ...]
    escalation_contacts: tuple[EscalationContact, ...]


@dataclass(frozen=True)
class Step:
    """One attempt of the chain: whom, over which channel, at which address."""

    contact_index: int
    contact_name: str
    channel: Channel
    target: str


@dataclass(frozen=True)
class Chain:
    """Every attempt in order, and how long each waits for an acknowledgement."""

    steps: tuple[Step, ...]
    ack_timeout: timedelta = DEFAULT_ACK_TIMEOUT
    book_version: int | None = None


def chain_for(book: Book | None, urgency_kind: str) -> Chain:
    """The chain for an urgency kind; empty when the book has no such rule or no contacts."""
    rule = _rule(book, urgency_kind)
    if book is None or rule is None:
        return Chain((), book_version=book.book_version if book else None)
    steps = tuple(
        Step(index, contact.name, channel, target)
        for index, contact in enumerate(book.escalation_contacts)
        for channel in rule.channels
        if (target := address(contact, channel)) is not None
    )
    return Chain(steps, timedelta(seconds=rule.ack_timeout_seconds), book.book_version)


def address(contact: EscalationContact, channel: Channel) -> str | None:
    """Where a contact is reached over a channel, or None when the book gives no address."""
    found = {
        "transfer": contact.phone,
        "sms": contact.phone,
        "email": contact.email,
        "chat": contact.chat_webhook_url,
    }[channel]
    if found is None or len(found) > MAX_TARGET_LENGTH:
        return None
    return found


def _rule(book: Book | None, urgency_kind: str) -> UrgencyRule | None:
    if book is None:
        return None
    return next((rule for rule in book.urgency_rules if rule.kind == urgency_kind), None)
