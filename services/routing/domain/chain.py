"""The escalation chain a secretary book prescribes: contacts in order, each over the rule's
channels in order, one attempt per contact and channel, each with the rule's ack timeout.

An overdue mail conversation follows the book's urgency rule of kind `mail_overdue` when the
client has one (without its `transfer` channel: there is no call to put through); otherwise
every escalation contact that has an e-mail address is mailed in turn, each with the default
ack timeout (DEFAULT_ACK_TIMEOUT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.events.intake import Channel, EscalationContact, UrgencyRule

DEFAULT_ACK_TIMEOUT = timedelta(seconds=600)
MAX_TARGET_LENGTH = 500
"""EscalationDispatched.target holds at most 500 characters (a longer chat URL is skipped)."""
MAIL_OVERDUE = "mail_overdue"
"""The urgency kind of an overdue mail conversation (and of the book's rule for it)."""
MAIL_DEFAULT_CHANNELS: tuple[Channel, ...] = ("email",)
"""The channels of an overdue mail's chain when the book has no `mail_overdue` rule."""
LINK_ACKNOWLEDGER = "escalation link"
"""Who acknowledged, when a link names an attempt the chain does not have."""


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
    steps = _steps(book, rule.channels)
    return Chain(steps, timedelta(seconds=rule.ack_timeout_seconds), book.book_version)


def mail_chain_for(book: Book | None) -> Chain:
    """The chain of an overdue mail: the book's `mail_overdue` rule, else every contact's
    e-mail in turn with the default ack timeout; empty without a book or contacts.

    A mail has no call leg to put through, so the rule's `transfer` channel is left out.
    """
    if book is None:
        return Chain(())
    rule = _rule(book, MAIL_OVERDUE)
    if rule is None:
        return Chain(_steps(book, MAIL_DEFAULT_CHANNELS), DEFAULT_ACK_TIMEOUT, book.book_version)
    channels = tuple(channel for channel in rule.channels if channel != "transfer")
    timeout = timedelta(seconds=rule.ack_timeout_seconds)
    return Chain(_steps(book, channels), timeout, book.book_version)


def _steps(book: Book, channels: tuple[Channel, ...]) -> tuple[Step, ...]:
    return tuple(
        Step(index, contact.name, channel, target)
        for index, contact in enumerate(book.escalation_contacts)
        for channel in channels
        if (target := address(contact, channel)) is not None
    )


@dataclass(frozen=True)
class BookChoice:
    """The book an escalation follows, or that it waits for the version on screen."""

    book: Book | None
    waiting: bool = False
    fell_back: bool = False
    """True when the version on screen never arrived and the latest known one is followed."""


def book_to_follow(
    version: int | None, on_screen: Book | None, latest: Book | None, *, now: datetime,
    wait_until: datetime,
) -> BookChoice:  # fmt: skip
    """The version the operator saw; until `wait_until` wait for it, then take the latest.

    The book reaches routing over the intake topic, which may run behind the calls topic: an
    escalation waits a while for the version on its screen rather than follow an older one.
    """
    if version is None:
        return BookChoice(latest)
    if on_screen is not None:
        return BookChoice(on_screen)
    if now < wait_until:
        return BookChoice(None, waiting=True)
    return BookChoice(latest, fell_back=True)


def book_wait_until(opened_at: datetime, wait: timedelta) -> datetime:
    """Until when an escalation opened at `opened_at` waits for its book version."""
    return opened_at + wait


def contact_name(chain: Chain, attempt: int | None) -> str:
    """Who acknowledged through the link of an attempt: that attempt's contact."""
    steps = chain.steps
    if attempt is None or not 0 < attempt <= len(steps):
        return LINK_ACKNOWLEDGER
    return steps[attempt - 1].contact_name


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
