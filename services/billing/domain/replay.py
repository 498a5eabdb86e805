"""Disputes: rebuild a month from the log as it stood for an issued invoice, or as of a time.

Billing's own events of a client are serialised, so on the billing topic they stand in the
order they were issued: an invoice was computed from the first `billing_stream_position` of
them (for an invoice that did not record it: those before it there), and from the input events
up to the log positions it records (`computed_from`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from libs.events.billing import InvoiceIssued
from libs.events.envelope import Event
from services.billing.domain.charges import is_top_up
from services.billing.domain.compare import Difference, compare
from services.billing.domain.decisions import CallDecision
from services.billing.domain.documents import PeriodRun, run_period
from services.billing.domain.ledger import BILLING_INPUTS, client_facts

Basis = Literal["as_of", "invoice_positions", "whole_log"]


@dataclass(frozen=True)
class LoggedEvent:
    """An event as read from the log, with where it was read."""

    event: Event
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Replay:
    """A month recomputed from the log next to the invoice issued for it."""

    client_id: UUID
    period: str
    basis: Basis
    events_used: int
    run: PeriodRun
    issued: InvoiceIssued | None
    difference: Difference

    @property
    def calls(self) -> list[CallDecision]:
        """The per-call decisions of the month."""
        return self.run.calls()


def issued_invoice(records: Sequence[LoggedEvent], period: str) -> InvoiceIssued | None:
    """The monthly invoice issued for the period, if the log holds one."""
    for record in records:
        event = record.event
        if isinstance(event, InvoiceIssued) and event.period == period and not is_top_up(event):
            return event
    return None


def evidence(
    records: Sequence[LoggedEvent], billing_topic: str, issued: InvoiceIssued | None,
    as_of: datetime | None,
) -> tuple[list[Event], Basis]:  # fmt: skip
    """The events the month is recomputed from, and on which basis they were chosen."""
    own = _before(records, billing_topic, issued)
    inputs = [r for r in records if r.topic != billing_topic]
    if as_of is not None:
        chosen = [r for r in [*inputs, *own] if r.event.occurred_at <= as_of]
        return [r.event for r in chosen], "as_of"
    if issued is not None:
        limits = {(p.topic, p.partition): p.offset for p in issued.computed_from}
        read = [r for r in inputs if r.offset <= limits.get((r.topic, r.partition), -1)]
        return [r.event for r in [*read, *own]], "invoice_positions"
    return [r.event for r in [*inputs, *own]], "whole_log"


def _before(
    records: Sequence[LoggedEvent], billing_topic: str, issued: InvoiceIssued | None
) -> list[LoggedEvent]:
    """The client's billing events the invoice saw, in stream order (a redelivery counts once)."""
    seen = None if issued is None else issued.billing_stream_position
    found: list[LoggedEvent] = []
    ids: set[UUID] = set()
    for record in sorted((r for r in records if r.topic == billing_topic), key=_place):
        if issued is not None and record.event.event_id == issued.event_id:
            break
        if seen is not None and len(ids) == seen:
            break
        if record.event.event_id not in ids:
            ids.add(record.event.event_id)
            found.append(record)
    return found


def _place(record: LoggedEvent) -> tuple[int, int]:
    return (record.partition, record.offset)


def folded(event: Event) -> bool:
    """Whether billing's fold takes the event in (the log holds others of the client too)."""
    return event.type in BILLING_INPUTS


def rebuild(
    records: Sequence[LoggedEvent], client_id: UUID, period: str, billing_topic: str,
    as_of: datetime | None = None,
) -> Replay:  # fmt: skip
    """Recompute the client's month from logged events; side effects are the caller's to skip.

    Only the events billing folds count: others keyed by the client on the same topics (API
    keys issued for it, its settings) change no invoice and are not "events used".
    """
    mine = [r for r in records if r.event.client_id == client_id and folded(r.event)]
    issued = issued_invoice([r for r in mine if r.topic == billing_topic], period)
    events, basis = evidence(mine, billing_topic, issued, as_of)
    run = run_period(client_facts(events, client_id), period)
    difference = compare(run.invoice, issued)
    return Replay(client_id, period, basis, len(events), run, issued, difference)
