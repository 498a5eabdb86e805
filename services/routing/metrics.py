"""Prometheus metrics of routing.

Labels stay bounded: no client, call or escalation ids. `operator` is an operator id from the
roster, bounded by the number of operators the bureau employs. `subject` is what an escalation
is about: `call` (an urgent call) or `mail` (an overdue mail conversation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from libs.events.envelope import Event
from libs.events.routing import (
    CallRouted,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
    Presence,
)
from libs.events.values import Language
from services.routing import read_model
from services.routing.directory import Queryable
from services.routing.domain.escalation import Escalation, Subject
from services.routing.domain.route import reason

CALLS_ROUTED = Counter(
    "frontdesk_calls_routed_total",
    "Calls routed, by destination, language and reason (operator, after_hours, no_operator).",
    ["destination", "language", "reason"],
)
ESCALATIONS = Counter(
    "frontdesk_escalations_total",
    "Escalations by outcome (requested, acknowledged or exhausted) and subject (call, mail).",
    ["outcome", "subject"],
)
ESCALATION_DISPATCHES = Counter(
    "frontdesk_escalation_dispatches_total",
    "Escalation attempts dispatched, by channel and subject (call, mail).",
    ["channel", "subject"],
)
OPERATOR_CALLS = Counter(
    "frontdesk_operator_calls_total",
    "Calls routed to an operator, by operator id and the client's language.",
    ["operator", "language"],
)
OPERATORS = Gauge(
    "frontdesk_operators",
    "Roster operators by language and presence (one speaking two languages counts in both), "
    "counted from the roster table at start, after each roster change and every few seconds.",
    ["language", "presence"],
)
FEED_STREAMS = Gauge(
    "frontdesk_feed_streams",
    "Operator feed streams (server-sent events) open in this process.",
)
# Each outcome's series exists from the start at 0, so that the first exhausted escalation
# after a restart is an increase Prometheus can see (the alert rule relies on it).
for _outcome in ("requested", "acknowledged", "exhausted"):
    for _subject in get_args(Subject):
        ESCALATIONS.labels(_outcome, _subject)
TIME_TO_ACKNOWLEDGE = Histogram(
    "frontdesk_escalation_ack_seconds",
    "Time from an escalation being requested to its acknowledgement.",
    buckets=(15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 14400),
)


def observe(events: Sequence[Event], before: Escalation | None = None) -> None:
    """Count what routing just recorded (after the transaction that recorded it)."""
    for event in events:
        match event:
            case CallRouted():
                CALLS_ROUTED.labels(event.destination, event.language, reason(event)).inc()
            case EscalationDispatched():
                ESCALATION_DISPATCHES.labels(event.channel, subject_of(event)).inc()
            case EscalationAcknowledged():
                ESCALATIONS.labels("acknowledged", subject_of(event)).inc()
                if before is not None:
                    waited = event.occurred_at - before.requested_at
                    TIME_TO_ACKNOWLEDGE.observe(max(waited.total_seconds(), 0.0))
            case EscalationExhausted():
                ESCALATIONS.labels("exhausted", subject_of(event)).inc()


def subject_of(
    event: EscalationDispatched | EscalationAcknowledged | EscalationExhausted,
) -> Subject:
    """The `subject` label of an escalation's event."""
    return "mail" if event.conversation_id is not None else "call"


def routed(event: CallRouted, client_language: Language) -> None:
    """Count a route routing just recorded, and the operator it went to."""
    observe([event])
    if event.operator_id is not None:
        OPERATOR_CALLS.labels(event.operator_id, client_language).inc()


async def count_roster(db: Queryable, schema: str) -> None:
    """Set the operators gauge from the roster table, zero where nobody is."""
    set_roster(await read_model.roster_counts(db, schema))


def set_roster(counts: Mapping[tuple[str, str], int]) -> None:
    """Set the operators gauge for every language and presence."""
    for language in get_args(Language):
        for presence in get_args(Presence):
            OPERATORS.labels(language, presence).set(counts.get((language, presence), 0))


def requested(subject: Subject = "call") -> None:
    """Count an escalation request routing took on (an urgent call's, or an overdue mail's)."""
    ESCALATIONS.labels("requested", subject).inc()
