"""Prometheus metrics of the calls service.

Labels stay bounded. `client_id` is one per client business of the bureau (tens to a few
hundred), so call volume can be shown per client; `company` is that client's name, on the
info gauge only, for dashboards to join on client_id. Never call ids or phone numbers.
`office` is open or closed, `reason` one of the non-billable reasons, `change` marked or
reverted.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from prometheus_client import Counter, Gauge, Histogram

from libs.events.calls import (
    CallAnswered,
    CallBillabilityRestored,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    VoicemailRecorded,
)
from libs.events.envelope import Event
from services.calls.domain.model import Call

CALLS_RECEIVED = Counter(
    "frontdesk_calls_received_total",
    "Calls received, by client and whether its office was open when the call came in.",
    ["client_id", "office"],
)
CALLS_ANSWERED = Counter(
    "frontdesk_calls_answered_total", "Calls an operator answered, by client.", ["client_id"]
)
VOICEMAILS = Counter(
    "frontdesk_calls_voicemail_total", "Voicemails recorded, by client.", ["client_id"]
)
TRANSFERS = Counter(
    "frontdesk_calls_transferred_total",
    "Calls put through to another number, by client.",
    ["client_id"],
)
NON_BILLABLE = Counter(
    "frontdesk_calls_non_billable_total",
    "Non-billable marks by reason: marked, or reverted (the call is billable again).",
    ["reason", "change"],
)
ANSWER_SECONDS = Histogram(
    "frontdesk_call_answer_seconds",
    "From a call coming in (its received_at) to an operator answering it.",
    buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300),
)
CLIENT_INFO = Gauge(
    "frontdesk_client_info",
    "1 for each client calls knows that has not left, labelled with its company name.",
    ["client_id", "company"],
)
_shown: dict[str, str] = {}
"""The company each client is shown with on CLIENT_INFO, to drop the label set of an old name."""


def observe(events: Sequence[Event], before: Call | None) -> None:
    """Count what calls just recorded (after the transaction that recorded it)."""
    for event in events:
        client = str(event.client_id)
        match event:
            case CallReceived():
                CALLS_RECEIVED.labels(client, "open" if event.office_open else "closed").inc()
            case CallAnswered():
                CALLS_ANSWERED.labels(client).inc()
                if before is not None:
                    waited = event.occurred_at - before.received_at
                    ANSWER_SECONDS.observe(max(waited.total_seconds(), 0.0))
            case VoicemailRecorded():
                VOICEMAILS.labels(client).inc()
            case CallTransferred():
                TRANSFERS.labels(client).inc()
            case CallMarkedNonBillable():
                NON_BILLABLE.labels(event.reason, "marked").inc()
            case CallBillabilityRestored() if before is not None and before.non_billable:
                NON_BILLABLE.labels(before.non_billable.reason, "reverted").inc()


def show_client(client_id: UUID, company: str | None) -> None:
    """Show the client with its company name; None (it left, or is unknown) shows nothing."""
    key = str(client_id)
    shown = _shown.pop(key, None)
    if shown is not None and shown != company:
        CLIENT_INFO.remove(key, shown)
    if company is not None:
        CLIENT_INFO.labels(key, company).set(1)
        _shown[key] = company
