"""The facts billing keeps per client, folded from intake, calls, notify and billing events.

The fold only collects facts: keyed by id and never depending on the order in which different
topics arrive. Every decision is taken later from the facts as a whole (`decisions.py`), so
the same events give the same invoice live, in a replay and in any interleaving of clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from libs.events.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    PaymentRecorded,
    PunchCardLow,
    PunchCardToppedUp,
)
from libs.events.calls import CallBillabilityRestored, CallMarkedNonBillable, CallReceived
from libs.events.envelope import Event
from libs.events.intake import ClientOffboarded, ClientRegistered, PlanChanged
from libs.events.notify import NotificationSent

REPORTING_KINDS = frozenset({"per_call", "daily_digest", "voicemail_summary"})
"""Notifications that bring a call's message to the client: it becomes billable by them."""
Mark = CallMarkedNonBillable | CallBillabilityRestored


@dataclass
class CallFacts:
    """One call: when it came in, its non-billable marks in order, the e-mails that listed it."""

    call_id: UUID
    received: CallReceived | None = None
    marks: list[Mark] = field(default_factory=list)
    reports: list[NotificationSent] = field(default_factory=list)


@dataclass
class ClientFacts:
    """Everything billing knows about one client."""

    client_id: UUID
    registration: ClientRegistered | None = None
    plan_changes: list[PlanChanged] = field(default_factory=list)
    offboarded: ClientOffboarded | None = None
    calls: dict[UUID, CallFacts] = field(default_factory=dict)
    invoices: list[InvoiceIssued] = field(default_factory=list)
    credit_notes: list[CreditNoteIssued] = field(default_factory=list)
    top_ups: list[PunchCardToppedUp] = field(default_factory=list)
    lows: list[PunchCardLow] = field(default_factory=list)
    payments: list[PaymentRecorded] = field(default_factory=list)
    seen: set[UUID] = field(default_factory=set)

    def billing_events(self) -> int:
        """How many of billing's own events of the client the facts hold (each is in its stream)."""
        own = (self.invoices, self.credit_notes, self.top_ups, self.lows, self.payments)
        return sum(len(events) for events in own)

    def call(self, call_id: UUID) -> CallFacts:
        """The facts of a call, created on first mention (a report may precede the call)."""
        found = self.calls.get(call_id)
        if found is None:
            found = self.calls[call_id] = CallFacts(call_id)
        return found


Ledger = dict[UUID, ClientFacts]
"""Facts of every client, by client id."""


def evolve(ledger: Ledger, event: Event) -> Ledger:
    """Add one event's facts (a duplicate delivery adds nothing); returns the same ledger."""
    apply = _APPLY.get(type(event))
    if apply is None:
        return ledger
    client = ledger.get(event.client_id)
    if client is None:
        client = ledger[event.client_id] = ClientFacts(event.client_id)
    if event.event_id not in client.seen:
        client.seen.add(event.event_id)
        apply(client, event)
    return ledger


def fold(events: Iterable[Event], ledger: Ledger | None = None) -> Ledger:
    """The ledger after all the events."""
    ledger = {} if ledger is None else ledger
    for event in events:
        evolve(ledger, event)
    return ledger


def client_facts(events: Iterable[Event], client_id: UUID) -> ClientFacts:
    """The facts of one client (empty when the events never mention it)."""
    return fold(events).get(client_id) or ClientFacts(client_id)


def _registered(client: ClientFacts, event: ClientRegistered) -> None:
    client.registration = event


def _plan_changed(client: ClientFacts, event: PlanChanged) -> None:
    client.plan_changes.append(event)


def _offboarded(client: ClientFacts, event: ClientOffboarded) -> None:
    client.offboarded = event


def _received(client: ClientFacts, event: CallReceived) -> None:
    client.call(event.call_id).received = event


def _marked(client: ClientFacts, event: Mark) -> None:
    client.call(event.call_id).marks.append(event)


def _notified(client: ClientFacts, event: NotificationSent) -> None:
    if event.channel != "email" or event.kind not in REPORTING_KINDS:
        return
    for call_id in event.call_ids:
        client.call(call_id).reports.append(event)


def _appender(attribute: str) -> Callable[[ClientFacts, Any], None]:
    def append(client: ClientFacts, event: Any) -> None:
        getattr(client, attribute).append(event)

    return append


_APPLY: dict[type[Event], Callable[[ClientFacts, Any], None]] = {
    ClientRegistered: _registered,
    PlanChanged: _plan_changed,
    ClientOffboarded: _offboarded,
    CallReceived: _received,
    CallMarkedNonBillable: _marked,
    CallBillabilityRestored: _marked,
    NotificationSent: _notified,
    InvoiceIssued: _appender("invoices"),
    CreditNoteIssued: _appender("credit_notes"),
    PunchCardToppedUp: _appender("top_ups"),
    PunchCardLow: _appender("lows"),
    PaymentRecorded: _appender("payments"),
}
"""The events billing folds, each with the fact it adds."""

BILLING_INPUTS: frozenset[str] = frozenset(cls.model_fields["type"].default for cls in _APPLY)
"""The `type` of every event billing keeps."""
