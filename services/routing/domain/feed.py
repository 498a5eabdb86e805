"""The operators' live feed: which facts become an item, for whom, and who may follow a feed.

An item is for one operator (a call routed to them, a callback or mail conversation given to
them, the escalation chain of a call they took) or for a language's operators (an overdue
callback or mail: anyone who speaks it may take it), or for everyone (an escalation nobody
acknowledged: the desk must act). Each fact gives at most one item, so an operator never gets
one twice. Payloads stay small: ids, times, language and client; detail is in the REST APIs.

Items are kept for a while only: the oldest, in seq order, are pruned once they are older than
the retention, and a client that resumes from before what was pruned is told so (`lost`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from libs.errors import Rejected
from libs.events.calendar import CallbackAssigned, CallbackEscalated
from libs.events.envelope import Actor, Event
from libs.events.inbox import ConversationAssigned, ConversationEscalated
from libs.events.routing import (
    CallRouted,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
)
from libs.events.values import Language

Kind = Literal["call", "callback", "conversation", "escalation"]
EscalationFact = EscalationDispatched | EscalationAcknowledged | EscalationExhausted
MAX_CURSOR = 2**63 - 1
"""The largest seq PostgreSQL's bigint holds: a cursor above it names no item."""


@dataclass(frozen=True)
class Audience:
    """Who an item is for: one operator; else the operators of a language; else everyone."""

    operator_id: str | None = None
    language: Language | None = None


EVERYONE = Audience()


@dataclass(frozen=True)
class FeedItem:
    """One item of the feed, before it is numbered: the fact it comes from, kind, audience."""

    event_id: UUID
    client_id: UUID
    occurred_at: datetime
    kind: Kind
    audience: Audience
    data: dict[str, Any]


@dataclass(frozen=True)
class Subject:
    """What routing knows of the thing a fact is about: its language, due time, operator."""

    language: Language | None = None
    due_at: datetime | None = None
    operator_id: str | None = None


def reaches(audience: Audience, operator_id: str, languages: Collection[str]) -> bool:
    """Whether an item is in this operator's feed (the index: feed.ITEMS_OF_OPERATOR)."""
    if audience.operator_id is not None:
        return audience.operator_id == operator_id
    return audience.language is None or audience.language in languages


def may_follow(actor: Actor, operator_id: str) -> bool:
    """Operators follow their own feed only; staff anyone's; nobody else any."""
    if actor.kind == "operator":
        return actor.id == operator_id
    return actor.kind == "staff"


def resume_point(last_event_id: str | None, after: int | None) -> int | None:
    """The seq a feed resumes after: the Last-Event-ID header, else `after`; None: the head.

    Refused (Rejected) when it is not a whole number from 0 to the largest seq.
    """
    if last_event_id is None:
        return after
    text = last_event_id.strip()
    if not text.isascii() or not text.isdigit():
        raise Rejected(
            f"Last-Event-ID must be the id of a feed item (a whole number), not {text!r}"
        )
    if len(text) > len(str(MAX_CURSOR)) or int(text) > MAX_CURSOR:
        raise Rejected(f"Last-Event-ID {text[:30]} is no feed item's id (too large)")
    return int(text)


def kept_since(now: datetime, retention: timedelta) -> datetime:
    """Items that occurred before this are pruned (the index: feed.PRUNE_OLDEST, which takes
    them in seq order and stops at the first younger one, so what is pruned is always a prefix
    of the feed)."""
    return now - retention


def lost(cursor: int | None, pruned_through: int) -> bool:
    """Whether items after the resume point were pruned, so the client has missed some.

    Starting at the head (None) or from the beginning (0) never misses anything it asked for.
    """
    return cursor is not None and 0 < cursor < pruned_through


def lost_detail(cursor: int, retention_hours: int) -> str:
    """What a client that resumed after pruned items should do (the 410's detail)."""
    return (
        f"feed items after {cursor} are no longer kept (the feed keeps {retention_hours} hours): "
        "reload the screen's state, then reconnect without Last-Event-ID or `after`"
    )


def routed(event: CallRouted) -> FeedItem | None:
    """A call routed to an operator is theirs to answer; voicemail gives nobody an item."""
    if event.operator_id is None:
        return None
    data = {
        "call_id": str(event.call_id),
        "client_id": str(event.client_id),
        "language": event.language,
        "queue": event.queue,
        "routed_at": _time(event.occurred_at),
    }
    return _item(event, "call", Audience(operator_id=event.operator_id), data)


def callback_assigned(event: CallbackAssigned, callback: Subject) -> FeedItem:
    """A callback given to an operator."""
    data = _callback(event, callback, "assigned")
    return _item(event, "callback", Audience(operator_id=event.operator_id), data)


def callback_escalated(event: CallbackEscalated, callback: Subject) -> FeedItem:
    """An overdue callback: anyone who speaks its language may take it."""
    data = {**_callback(event, callback, "escalated"), "overdue_since": _time(event.overdue_since)}
    return _item(event, "callback", Audience(language=callback.language), data)


def conversation_assigned(event: ConversationAssigned, conversation: Subject) -> FeedItem:
    """A mail conversation given to an operator, with the time its answer is due."""
    data = _conversation(event.conversation_id, event, conversation, "assigned")
    return _item(event, "conversation", Audience(operator_id=event.operator_id), data)


def conversation_escalated(event: ConversationEscalated, conversation: Subject) -> FeedItem:
    """An overdue answer: anyone who reads its language may take it."""
    overdue = Subject(conversation.language, event.due_at, conversation.operator_id)
    data = _conversation(event.conversation_id, event, overdue, "escalated")
    return _item(event, "conversation", Audience(language=conversation.language), data)


def escalation(event: EscalationFact, subject: Subject) -> FeedItem | None:
    """A step of an escalation chain, for the operator who had the call (or the mail); an
    exhausted chain for everyone instead (nobody acknowledged: the desk must act)."""
    audience = EVERYONE if isinstance(event, EscalationExhausted) else None
    if audience is None and subject.operator_id is None:
        return None  # nobody on the roster had it (voicemail, or a mail nobody was given)
    data: dict[str, Any] = {
        "escalation_id": str(event.escalation_id),
        "client_id": str(event.client_id),
        "state": _STATES[event.type],
        "language": subject.language,
        "at": _time(event.occurred_at),
    }
    data |= {"call_id": str(event.call_id)} if event.call_id else {}
    data |= {"conversation_id": str(event.conversation_id)} if event.conversation_id else {}
    match event:
        case EscalationDispatched():
            data |= {"attempt": event.attempt, "ack_due_at": _time(event.ack_due_at)}
        case EscalationExhausted():
            data |= {"attempts": event.attempts}
    return _item(event, "escalation", audience or Audience(subject.operator_id), data)


_STATES = {
    "EscalationDispatched": "dispatched",
    "EscalationAcknowledged": "acknowledged",
    "EscalationExhausted": "exhausted",
}


def _callback(
    event: CallbackAssigned | CallbackEscalated, callback: Subject, state: str
) -> dict[str, Any]:
    return {
        "callback_id": str(event.callback_id),
        "call_id": str(event.call_id),
        "client_id": str(event.client_id),
        "language": callback.language,
        "due_at": _time(callback.due_at),
        "state": state,
    }


def _conversation(
    conversation_id: UUID, event: Event, conversation: Subject, state: str
) -> dict[str, Any]:
    return {
        "conversation_id": str(conversation_id),
        "client_id": str(event.client_id),
        "language": conversation.language,
        "due_at": _time(conversation.due_at),
        "state": state,
    }


def _item(event: Event, kind: Kind, audience: Audience, data: dict[str, Any]) -> FeedItem:
    return FeedItem(event.event_id, event.client_id, event.occurred_at, kind, audience, data)


def _time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
