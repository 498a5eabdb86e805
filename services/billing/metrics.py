"""Prometheus metrics of billing; labels are bounded (kinds, reasons), never client or call ids."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from libs.events.billing import CreditNoteIssued, InvoiceIssued, PunchCardLow
from libs.events.envelope import Event
from services.billing.domain.decisions import CallDecision

CALL_DECISIONS = Counter(
    "frontdesk_billing_call_decisions_total",
    "Calls of invoiced months by decision (billable, non_billable, pending) and reason.",
    ["decision", "reason"],
)
INVOICES_ISSUED = Counter(
    "frontdesk_billing_invoices_issued_total",
    "Invoices issued, by purpose (monthly, top_up).",
    ["purpose"],
)
CREDIT_NOTES_ISSUED = Counter(
    "frontdesk_billing_credit_notes_issued_total",
    "Credit notes issued against earlier invoices.",
)
INVOICED_CENTS = Counter(
    "frontdesk_billing_invoiced_cents_total",
    "Sum of document totals in euro cents, VAT included (credit notes counted apart).",
    ["kind"],
)
PUNCH_CARD_LOW = Counter(
    "frontdesk_billing_punch_card_low_total",
    "Punch-card low-balance warnings emitted.",
)
REPLAYS = Counter(
    "frontdesk_billing_replays_total",
    "Dispute replays by outcome (matches, differs, no_invoice).",
    ["outcome"],
)
MAIL_QUEUED = Counter(
    "frontdesk_billing_mail_queued_total",
    "Invoice, credit-note and reminder mails recorded and queued, by kind.",
    ["kind"],
)
MAILED = Counter(
    "frontdesk_billing_mailed_total",
    "Mail attempts by kind (invoice, credit_note, reminder) and outcome (sent, failed).",
    ["kind", "outcome"],
)
MAIL_RESENT = Counter(
    "frontdesk_billing_mail_resent_total",
    "Mails sent again because an earlier claim ended without a recorded outcome.",
    ["kind"],
)
MAIL_GIVEN_UP = Counter(
    "frontdesk_billing_mail_given_up_total",
    "Mails given up after every allowed attempt, by kind.",
    ["kind"],
)
MAIL_BACKLOG = Gauge(
    "frontdesk_billing_mail_backlog",
    "Billing mails waiting to be sent, by state (queued, sending).",
    ["state"],
)
REMINDERS_SENT = Counter(
    "frontdesk_billing_reminders_sent_total",
    "Payment reminders recorded and queued, by reminder number (1, 2, ... capped at 'more').",
    ["reminder"],
)
OUTSTANDING_CENTS = Gauge(
    "frontdesk_billing_outstanding_cents",
    "Total still to be paid on issued invoices, in euro cents, by whether it is overdue.",
    ["overdue"],
)


def documents_issued(events: Iterable[Event]) -> None:
    """Count issued documents and their totals."""
    for event in events:
        kind: str
        if isinstance(event, InvoiceIssued):
            kind = event.purpose
            INVOICES_ISSUED.labels(kind).inc()
        elif isinstance(event, CreditNoteIssued):
            kind = "credit_note"
            CREDIT_NOTES_ISSUED.inc()
        elif isinstance(event, PunchCardLow):
            PUNCH_CARD_LOW.inc()
            continue
        else:
            continue
        INVOICED_CENTS.labels(kind).inc(event.total_cents)


def decisions_invoiced(decisions: Iterable[CallDecision]) -> None:
    """Count the decisions of the calls of an invoiced month."""
    for decision in decisions:
        status = "pending" if decision.status in ("pending", "no_terms") else decision.status
        CALL_DECISIONS.labels(status, decision.reason).inc()


def replayed(outcome: str) -> None:
    """Count a dispute replay."""
    REPLAYS.labels(outcome).inc()


def reminder_sent(number: int) -> None:
    """Count a payment reminder (numbers beyond 3 share one label)."""
    REMINDERS_SENT.labels(str(number) if number <= 3 else "more").inc()
