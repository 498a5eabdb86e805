"""Commands turned into billing events: invoices, credit notes, top-ups and payments.

Each event carries the actor given: whoever called for it (staff, through the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from libs.errors import Conflict, NotFound, Rejected
from libs.events.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    LogPosition,
    PaymentRecorded,
    PunchCardToppedUp,
)
from libs.events.envelope import Actor
from libs.events.values import PunchCardPlan
from services.billing.domain.calendar import local_date, period_of
from services.billing.domain.documents import Draft, top_up_draft
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.plans import terms_on, timeline
from services.billing.domain.wallet import balance


def document_number(prefix: str, year: int, sequence: int) -> str:
    """A gap-free per-year number: "2026-000123", or "CN-2026-000004" with a prefix."""
    return f"{prefix}{year:04d}-{sequence:06d}"


def year_of(instant: datetime) -> int:
    """The (Amsterdam) year a document issued at `instant` is numbered in."""
    return local_date(instant).year


def invoice_issued(
    client_id: UUID, draft: Draft, *, invoice_id: UUID, number: str, at: datetime,
    computed_from: Sequence[LogPosition], actor: Actor,
) -> InvoiceIssued:  # fmt: skip
    """The invoice event for a draft, frozen with what it is for and what it was computed from."""
    return InvoiceIssued(
        client_id=client_id, occurred_at=at, actor=actor, invoice_id=invoice_id,
        invoice_number=number, purpose=draft.purpose, period=draft.period, lines=draft.lines,
        subtotal_cents=draft.subtotal_cents, vat_rate_percent=draft.vat_rate_percent,
        vat_cents=draft.vat_cents, total_cents=draft.total_cents,
        computed_from=tuple(computed_from), billing_stream_position=draft.billing_stream_position,
    )  # fmt: skip


def credit_note_issued(
    client_id: UUID, draft: Draft, *, credit_note_id: UUID, number: str, at: datetime,
    actor: Actor,
) -> CreditNoteIssued:  # fmt: skip
    """The credit note event for a draft against its original invoice."""
    assert draft.original_invoice_id is not None
    return CreditNoteIssued(
        client_id=client_id, occurred_at=at, actor=actor, credit_note_id=credit_note_id,
        credit_note_number=number, original_invoice_id=draft.original_invoice_id,
        period=draft.period, lines=draft.lines, subtotal_cents=draft.subtotal_cents,
        vat_rate_percent=draft.vat_rate_percent, vat_cents=draft.vat_cents,
        total_cents=draft.total_cents,
        reason="calls no longer billable after the invoice was issued",
    )  # fmt: skip


@dataclass(frozen=True)
class TopUp:
    """Punch-card credit bought: the event and the invoice to issue for it."""

    event: PunchCardToppedUp
    invoice: Draft


def top_up(
    client: ClientFacts, amount_cents: int, *, top_up_id: UUID, at: datetime, actor: Actor
) -> TopUp:
    """Buy credit: allowed for a registered client on a punch card now or from a later day."""
    if client.registration is None:
        raise NotFound(f"no client {client.client_id}")
    if client.offboarded is not None:
        raise Conflict(f"client {client.client_id} has left; no credit can be bought")
    today = local_date(at)
    versions = timeline(client)
    relevant = [terms_on(versions, today), *(t for t in versions if t.effective_from > today)]
    if not any(t is not None and isinstance(t.plan, PunchCardPlan) for t in relevant):
        raise Conflict(f"client {client.client_id} is not on a punch card, now or later")
    event = PunchCardToppedUp(
        client_id=client.client_id, occurred_at=at, actor=actor, top_up_id=top_up_id,
        amount_cents=amount_cents, balance_cents=balance(client) + amount_cents,
    )  # fmt: skip
    return TopUp(event, top_up_draft(client, amount_cents, period_of(at), event.event_id))


def outstanding(client: ClientFacts, invoice_id: UUID) -> int:
    """What is still to be paid on an invoice: total minus payments and credit notes."""
    invoice = next((i for i in client.invoices if i.invoice_id == invoice_id), None)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id}")
    paid = sum(p.amount_cents for p in client.payments if p.invoice_id == invoice_id)
    credited = sum(
        c.total_cents for c in client.credit_notes if c.original_invoice_id == invoice_id
    )
    return invoice.total_cents - paid - credited


def record_payment(
    client: ClientFacts, invoice_id: UUID, amount_cents: int, *, payment_id: UUID,
    paid_at: datetime, reference: str, at: datetime, actor: Actor,
) -> PaymentRecorded:  # fmt: skip
    """A payment against an invoice, refused when it is more than what is outstanding."""
    if paid_at > at:
        raise Rejected("paid_at lies in the future")
    left = outstanding(client, invoice_id)
    if left <= 0:
        raise Conflict(f"invoice {invoice_id} has nothing outstanding")
    if amount_cents > left:
        raise Conflict(f"{amount_cents} cents is more than the {left} cents outstanding")
    return PaymentRecorded(
        client_id=client.client_id, occurred_at=at, actor=actor, payment_id=payment_id,
        invoice_id=invoice_id, amount_cents=amount_cents, paid_at=paid_at, reference=reference,
    )  # fmt: skip
