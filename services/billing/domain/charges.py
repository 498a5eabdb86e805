"""What is owed per month (calls and monthly fees) and what the issued documents billed so far."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from libs.events.billing import DocumentLine, InvoiceIssued, LineKind
from libs.events.values import FixedMonthlyPlan
from services.billing.domain.calendar import period_of
from services.billing.domain.decisions import CallDecision
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.money import euros, prorate
from services.billing.domain.plans import Segment, Terms, segments

ItemKey = tuple[str, ...] | tuple[str, UUID]
"""What a charge is for: ("call", call_id) or ("fee", kind, period)."""
CALL_LINES: dict[str, tuple[LineKind, str]] = {
    "invoiced": ("calls", "calls"),
    "drawn": ("calls", "drawn"),
    "included": ("calls", "included"),
    "overage": ("extra_calls", "overage"),
    "extra": ("extra_calls", "extra"),
}
"""Line kind and wording of a billable call, by how it is paid."""
FEE_KINDS: frozenset[str] = frozenset({"fixed_monthly", "email_handling"})


@dataclass(frozen=True)
class Charge:
    """Something owed for a month: one call, or one segment's share of a monthly fee."""

    kind: LineKind
    period: str
    amount_cents: int
    text: str
    values: tuple[tuple[str, str], ...] = ()
    call_id: UUID | None = None
    event_ids: tuple[UUID, ...] = ()

    @property
    def key(self) -> ItemKey:
        """The item this charge is for, as documents record it."""
        if self.call_id is not None:
            return ("call", self.call_id)
        return ("fee", self.kind, self.period)


def call_charge(decision: CallDecision) -> Charge:
    """What a billable call costs on the invoice (0 when drawn or included)."""
    kind, text = CALL_LINES[decision.settlement]
    return Charge(
        kind=kind,
        period=decision.period,
        amount_cents=decision.amount_cents,
        text=text,
        values=(("period", decision.period), ("rate", euros(decision.rate_cents))),
        call_id=decision.call_id,
        event_ids=decision.event_ids,
    )


def fee_charges(client: ClientFacts, versions: list[Terms], period: str) -> list[Charge]:
    """The monthly fees of a month, prorated by the days each version of the terms covers."""
    found: list[Charge] = []
    for segment in segments(client, versions, period):
        found.extend(_segment_fees(segment))
    return found


def _segment_fees(segment: Segment) -> list[Charge]:
    terms = segment.terms
    fees: list[tuple[LineKind, int]] = []
    if isinstance(terms.plan, FixedMonthlyPlan):
        fees.append(("fixed_monthly", terms.plan.monthly_amount_cents))
    if terms.email_handling.enabled and terms.email_handling.monthly_fee_cents:
        fees.append(("email_handling", terms.email_handling.monthly_fee_cents))
    values = (
        ("period", segment.period),
        ("first", segment.first.isoformat()),
        ("last", segment.last.isoformat()),
    )
    return [
        Charge(kind, segment.period, prorate(fee, segment.days, segment.of_days), kind, values,
               event_ids=(terms.event_id,))
        for kind, fee in fees
    ]  # fmt: skip


def owed(
    client: ClientFacts, versions: list[Terms], calls: Iterable[CallDecision], period: str
) -> list[Charge]:
    """Everything owed for a month as known now: its billable calls and its fees."""
    charges = [call_charge(d) for d in calls if d.billable]
    return charges + fee_charges(client, versions, period)


@dataclass(frozen=True)
class Billed:
    """What the documents issued so far billed for one item, net of credit notes."""

    net_cents: int
    period: str
    document_id: UUID


@dataclass
class BilledSoFar:
    """Per item, what was billed so far; plus the setup fee and the monthly invoices."""

    items: dict[ItemKey, Billed] = field(default_factory=dict)
    setup_cents: int = 0
    monthly: dict[str, InvoiceIssued] = field(default_factory=dict)
    documents: dict[UUID, InvoiceIssued] = field(default_factory=dict)

    def number(self, document_id: UUID | None) -> str:
        """The number of an issued invoice ("" for none)."""
        found = self.documents.get(document_id) if document_id else None
        return found.invoice_number if found else ""


def is_top_up(invoice: InvoiceIssued) -> bool:
    """Whether an invoice is for punch-card credit (bought any time) rather than a month."""
    return invoice.purpose == "top_up"


def billed_so_far(client: ClientFacts) -> BilledSoFar:
    """Add up every issued invoice and subtract every credit note, item by item."""
    billed = BilledSoFar()
    for invoice in sorted(client.invoices, key=lambda i: (i.occurred_at, i.invoice_number)):
        billed.documents[invoice.invoice_id] = invoice
        if not is_top_up(invoice):
            billed.monthly.setdefault(invoice.period, invoice)
        for line in invoice.lines:
            _add_line(billed, line, invoice.invoice_id, +1)
    for note in client.credit_notes:
        for line in note.lines:
            _add_line(billed, line, note.original_invoice_id, -1)
    return billed


def _add_line(billed: BilledSoFar, line: DocumentLine, document: UUID, sign: int) -> None:
    if line.kind == "setup_fee":
        billed.setup_cents += sign * line.amount_cents
        return
    keys: list[tuple[ItemKey, int]] = [(("call", c), line.unit_price_cents) for c in line.call_ids]
    if line.kind in FEE_KINDS:
        keys = [(("fee", line.kind, line.period), line.amount_cents)]
    for key, amount in keys:
        before = billed.items.get(key)
        net = (before.net_cents if before else 0) + sign * amount
        charged_here = sign > 0 and (before is None or amount > 0)
        owner = document if charged_here or before is None else before.document_id
        billed.items[key] = Billed(net, line.period, owner)


def setup_fee_owed(client: ClientFacts, period: str) -> int:
    """The one-off setup fee, due from the month of registration on."""
    reg = client.registration
    if reg is None or period < period_of(reg.occurred_at):
        return 0
    return reg.setup_fee_cents
