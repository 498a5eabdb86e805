"""Prometheus metrics of routing. Labels stay bounded: no client, call or escalation ids."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from libs.events.envelope import Event
from libs.events.routing import (
    CallRouted,
    EscalationAcknowledged,
    EscalationDispatched,
    EscalationExhausted,
)
from services.routing.domain import Escalation, reason

CALLS_ROUTED = Counter(
    "frontdesk_calls_routed_total",
    "Calls routed, by destination, language and reason (operator, after_hours, no_operator).",
    ["destination", "language", "reason"],
)
ESCALATIONS = Counter(
    "frontdesk_escalations_total",
    "Escalations by outcome: requested, acknowledged or exhausted.",
    ["outcome"],
)
ESCALATION_DISPATCHES = Counter(
    "frontdesk_escalation_dispatches_total",
    "Escalation attempts dispatched, by channel.",
    ["channel"],
)
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
                ESCALATION_DISPATCHES.labels(event.channel).inc()
            case EscalationAcknowledged():
                ESCALATIONS.labels("acknowledged").inc()
                if before is not None:
                    waited = event.occurred_at - before.requested_at
                    TIME_TO_ACKNOWLEDGE.observe(max(waited.total_seconds(), 0.0))
            case EscalationExhausted():
                ESCALATIONS.labels("exhausted").inc()


def requested() -> None:
    """Count an escalation request routing took on."""
    ESCALATIONS.labels("requested").inc()
