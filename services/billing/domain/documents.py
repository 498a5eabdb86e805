"""Invoice runs: reconcile what is owed now with what was billed, into lines and credit notes.

For the month being invoiced and every month before it, each item (a call, a monthly fee) is
compared with what issued documents billed for it so far:

- never billed: a line (for an earlier month, a line naming that month and its invoice);
- owed more than billed (a call reported or a mark reverted after its month's invoice): a
  `correction` line on this invoice for the difference, pointing at the original invoice;
- owed less than billed (a call marked non-billable after its month's invoice): a credit note
  against the invoice that billed it. Invoices therefore never carry negative lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from libs.events.billing import DocumentLine, InvoiceIssued, InvoicePurpose, LineKind
from services.billing.domain.calendar import period_of, periods_between
from services.billing.domain.charges import (
    BilledSoFar,
    Charge,
    ItemKey,
    billed_so_far,
    owed,
    setup_fee_owed,
)
from services.billing.domain.decisions import CallDecision, by_period, decide_calls
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.money import VAT_PERCENT, vat_cents
from services.billing.domain.plans import timeline
from services.billing.domain.wording import describe

MAX_CALLS_PER_LINE = 2000
KIND_ORDER: dict[str, int] = {
    "setup_fee": 0, "fixed_monthly": 1, "email_handling": 2, "calls": 3, "extra_calls": 4,
    "punch_card_credit": 5, "correction": 6,
}  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """An amount to put on a document, before entries are grouped into lines."""

    kind: LineKind
    period: str
    amount_cents: int
    text: str
    values: tuple[tuple[str, str], ...]
    call_id: UUID | None = None
    event_ids: tuple[UUID, ...] = ()
    corrects: UUID | None = None


@dataclass(frozen=True)
class Draft:
    """An invoice or credit note with its lines and totals, not yet numbered.

    An invoice draft also says what it is for and how many of the client's billing events (the
    first ones of its billing stream) it was computed from.
    """

    period: str
    lines: tuple[DocumentLine, ...]
    subtotal_cents: int
    vat_cents: int
    total_cents: int
    vat_rate_percent: int = VAT_PERCENT
    original_invoice_id: UUID | None = None
    purpose: InvoicePurpose = "monthly"
    billing_stream_position: int = 0

    @classmethod
    def of(
        cls, period: str, lines: Sequence[DocumentLine], original: UUID | None = None, *,
        purpose: InvoicePurpose = "monthly", position: int = 0,
    ) -> Draft:  # fmt: skip
        """A document with its totals: VAT 21% of the subtotal, rounded half up."""
        subtotal = sum(line.amount_cents for line in lines)
        vat = vat_cents(subtotal)
        return cls(period, tuple(lines), subtotal, vat, subtotal + vat, VAT_PERCENT, original,
                   purpose, position)  # fmt: skip


@dataclass(frozen=True)
class PeriodRun:
    """What an invoice run for a month issues for one client, and the decisions behind it."""

    client_id: UUID
    period: str
    invoice: Draft | None
    credit_notes: tuple[Draft, ...]
    decisions: dict[UUID, CallDecision] = field(default_factory=dict)

    def calls(self, period: str | None = None) -> list[CallDecision]:
        """The decisions for the calls of a month (default: the run's), oldest first."""
        return by_period(self.decisions.values()).get(period or self.period, [])


def language_of(client: ClientFacts) -> str:
    """The language the client's documents are written in."""
    return client.registration.language if client.registration else "en"


def run_period(client: ClientFacts, period: str) -> PeriodRun:
    """The invoice (and credit notes) an invoice run for `period` issues for the client."""
    decisions = decide_calls(client)
    billed = billed_so_far(client)
    additions, credits = _reconcile_all(client, decisions, billed, period)
    setup = setup_fee_owed(client, period) - billed.setup_cents
    if setup > 0 and client.registration is not None:
        ids = (client.registration.event_id,)
        additions.append(Entry("setup_fee", period, setup, "setup_fee", (), event_ids=ids))
    language = language_of(client)
    lines = build_lines(additions, language, billed, period)
    invoice = Draft.of(period, lines, position=client.billing_events()) if lines else None
    return PeriodRun(client.client_id, period, invoice, _credit_notes(credits, billed, language),
                     decisions)  # fmt: skip


def _reconcile_all(
    client: ClientFacts, decisions: dict[UUID, CallDecision], billed: BilledSoFar, period: str
) -> tuple[list[Entry], list[Entry]]:
    versions = timeline(client)
    calls = by_period(decisions.values())
    additions: list[Entry] = []
    credits: list[Entry] = []
    for month in _months(client, calls, billed, period):
        charges = owed(client, versions, calls.get(month, []), month)
        more, less = reconcile(charges, billed, month, decisions)
        additions += more
        credits += less
    return additions, credits


def _months(
    client: ClientFacts, calls: dict[str, list[CallDecision]], billed: BilledSoFar, until: str
) -> list[str]:
    # A month holding only calls under no terms owes nothing: it does not stretch the run back.
    starts = [m for m, found in calls.items() if any(d.terms for d in found)]
    starts += [b.period for b in billed.items.values()]
    if client.registration is not None:
        starts.append(period_of(client.registration.occurred_at))
    return periods_between(min(starts), until) if starts else []


def reconcile(
    charges: Iterable[Charge],
    billed: BilledSoFar,
    month: str,
    decisions: dict[UUID, CallDecision],
) -> tuple[list[Entry], list[Entry]]:
    """Entries to add for a month (fresh or under-billed items) and to credit (over-billed)."""
    wanted: dict[ItemKey, list[Charge]] = defaultdict(list)
    for charge in charges:
        wanted[charge.key].append(charge)
    more: list[Entry] = []
    less: list[Entry] = []
    for key, parts in wanted.items():
        had = billed.items.get(key)
        if had is None:
            more += [_fresh(c, billed.monthly.get(month)) for c in parts]
            continue
        delta = sum(c.amount_cents for c in parts) - had.net_cents
        if delta:
            entry = _delta(parts[0], delta, had.document_id)
            (more if delta > 0 else less).append(entry)
    for key, had in billed.items.items():
        if had.period == month and key not in wanted and had.net_cents > 0:
            less.append(_withdrawn(key, had.net_cents, month, had.document_id, decisions))
    return more, less


def _fresh(charge: Charge, invoice_of_month: InvoiceIssued | None) -> Entry:
    """An item never billed; for a month already invoiced it is a correction naming it."""
    corrects = invoice_of_month.invoice_id if invoice_of_month else None
    kind: LineKind = "correction" if charge.call_id and corrects else charge.kind
    return Entry(kind, charge.period, charge.amount_cents, charge.text, charge.values,
                 charge.call_id, charge.event_ids, corrects)  # fmt: skip


def _delta(charge: Charge, delta: int, document: UUID) -> Entry:
    kind: LineKind = "correction" if charge.call_id else charge.kind
    text = "credit" if delta < 0 else charge.text
    return Entry(kind, charge.period, abs(delta), text, charge.values, charge.call_id,
                 charge.event_ids, document)  # fmt: skip


def _withdrawn(
    key: ItemKey, amount: int, month: str, document: UUID, decisions: dict[UUID, CallDecision]
) -> Entry:
    if key[0] == "call":
        call_id = key[1]
        assert isinstance(call_id, UUID)
        found = decisions.get(call_id)
        ids = found.event_ids if found else ()
        return Entry("correction", month, amount, "credit", (), call_id, ids, document)
    kind: LineKind = "email_handling" if key[1] == "email_handling" else "fixed_monthly"
    return Entry(kind, month, amount, kind, (), None, (), document)


def build_lines(
    entries: Iterable[Entry], language: str, billed: BilledSoFar, period: str
) -> list[DocumentLine]:
    """Group entries into document lines: same kind, month, unit price and wording."""
    groups: dict[tuple[object, ...], list[Entry]] = defaultdict(list)
    for entry in entries:
        late = entry.period != period or entry.corrects is not None
        key = (entry.kind, entry.period, entry.amount_cents, entry.text, entry.values,
               entry.corrects, late)  # fmt: skip
        groups[key].append(entry)
    lines: list[DocumentLine] = []
    for members in groups.values():
        text = _text(members[0], language, billed, period)
        lines.extend(_lines(members, text))
    return sorted(lines, key=lambda ln: _line_order(ln, period))


def _line_order(line: DocumentLine, period: str) -> tuple[object, ...]:
    late = line.period != period or line.corrects_invoice_id is not None
    return (late, line.period, KIND_ORDER[line.kind], -line.unit_price_cents, line.description)


def _text(entry: Entry, language: str, billed: BilledSoFar, period: str) -> str:
    values = dict(entry.values)
    invoice = billed.number(entry.corrects)
    if entry.text == "credit":
        return describe("credit", language, period=entry.period, invoice=invoice)
    if entry.call_id is None and entry.corrects is not None and entry.kind != "setup_fee":
        what = entry.kind.replace("_", " ")
        return describe("fee_correction", language, what=what, period=entry.period, invoice=invoice)
    if entry.call_id is not None and (entry.period != period or entry.corrects is not None):
        if not invoice:
            return describe("late_uninvoiced", language, period=entry.period)
        late = describe("late", language, period=entry.period, invoice=invoice)
        return f"{late}: {describe(entry.text, language, **values)}"
    return describe(entry.text, language, **values)


def _lines(members: list[Entry], text: str) -> list[DocumentLine]:
    size = MAX_CALLS_PER_LINE
    chunks = [members[i : i + size] for i in range(0, len(members), size)]
    return [_line(members[0].kind, chunk, text) for chunk in chunks]


def _line(kind: LineKind, chunk: list[Entry], text: str) -> DocumentLine:
    first = chunk[0]
    calls = sorted(e.call_id for e in chunk if e.call_id is not None)
    events = sorted({i for e in chunk for i in e.event_ids})
    quantity = len(chunk) if calls else 1
    return DocumentLine(
        kind=kind,
        description=text[:500],
        period=first.period,
        quantity=quantity,
        unit_price_cents=first.amount_cents,
        amount_cents=quantity * first.amount_cents,
        call_ids=tuple(calls),
        event_ids=tuple(events),
        corrects_invoice_id=first.corrects,
    )


def _credit_notes(credits: list[Entry], billed: BilledSoFar, language: str) -> tuple[Draft, ...]:
    by_document: dict[UUID, list[Entry]] = defaultdict(list)
    for entry in credits:
        assert entry.corrects is not None
        by_document[entry.corrects].append(entry)
    notes = []
    for document, entries in sorted(by_document.items(), key=lambda kv: billed.number(kv[0])):
        original = billed.documents[document]
        lines = build_lines(entries, language, billed, original.period)
        notes.append(Draft.of(original.period, lines, original=document))
    return tuple(notes)


def statement(client: ClientFacts, period: str) -> Draft | None:
    """What a month costs under the facts known now, ignoring what was invoiced already."""
    decisions = decide_calls(client)
    calls = by_period(decisions.values()).get(period, [])
    charges = owed(client, timeline(client), calls, period)
    entries = [Entry(c.kind, c.period, c.amount_cents, c.text, c.values, c.call_id, c.event_ids)
               for c in charges]  # fmt: skip
    lines = build_lines(entries, language_of(client), BilledSoFar(), period)
    return Draft.of(period, lines) if lines else None


def top_up_draft(client: ClientFacts, amount_cents: int, period: str, event_id: UUID) -> Draft:
    """The invoice for punch-card credit bought now (with the setup fee if still due)."""
    language = language_of(client)
    billed = billed_so_far(client)
    text = describe("punch_card_credit", language)
    lines = [DocumentLine(kind="punch_card_credit", description=text, period=period, quantity=1,
                          unit_price_cents=amount_cents, amount_cents=amount_cents,
                          event_ids=(event_id,))]  # fmt: skip
    setup = setup_fee_owed(client, period) - billed.setup_cents
    if setup > 0 and client.registration is not None:
        lines.insert(0, DocumentLine(kind="setup_fee", description=describe("setup_fee", language),
                                     period=period, quantity=1, unit_price_cents=setup,
                                     amount_cents=setup,
                                     event_ids=(client.registration.event_id,)))  # fmt: skip
    # The top-up it bills is appended just before it, as the stream's next event.
    return Draft.of(period, lines, purpose="top_up", position=client.billing_events() + 1)
