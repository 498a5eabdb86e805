"""The billing API's request and response models, kept apart from events and read rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from libs.events.billing import InvoicePurpose
from libs.events.values import EmailHandling, Plan, UtcDatetime
from services.billing.domain.dunning import InvoiceState


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    value.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    return value


Period = Annotated[
    str,
    StringConstraints(pattern=r"^2[0-9]{3}-(0[1-9]|1[0-2])$"),
    Field(description="A calendar month in Europe/Amsterdam, YYYY-MM (years 2000-2999)"),
]
Instant = UtcDatetime
ShortText = Annotated[str, Field(max_length=500), AfterValidator(_storable)]
MAX_CENTS = 100_000_000  # EUR 1,000,000: anything above is a typo, not a payment
AmountCents = Annotated[
    int,
    Field(gt=0, le=MAX_CENTS, strict=True, description="Euro cents, a JSON integer"),
]
"""A positive amount of money given in a request: "100", true and 100.0 are refused."""


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class InvoiceRunCreate(Request):
    """Invoice a month that has ended, for every client or one."""

    period: Period
    client_id: UUID | None = None


class RunResultRead(BaseModel):
    """What the run did for one client."""

    client_id: UUID
    outcome: Literal["issued", "already_issued", "nothing_to_invoice"]
    invoice_id: UUID | None
    invoice_number: str | None
    total_cents: int | None
    credit_note_ids: list[UUID]


class InvoiceRunRead(BaseModel):
    """The outcome of an invoice run."""

    period: str
    results: list[RunResultRead]


class LineRead(BaseModel):
    """One line: what, which month, how many at which price, the calls and events behind it."""

    kind: str
    description: str
    period: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    call_ids: list[UUID]
    event_ids: list[UUID]
    corrects_invoice_id: UUID | None


class PositionRead(BaseModel):
    """A log position an invoice was computed up to."""

    topic: str
    partition: int
    offset: int


class DraftRead(BaseModel):
    """A computed invoice or credit note, not (necessarily) issued."""

    period: str
    lines: list[LineRead]
    subtotal_cents: int
    vat_rate_percent: int
    vat_cents: int
    total_cents: int
    original_invoice_id: UUID | None = None


class InvoiceSummary(BaseModel):
    """An issued invoice in a list."""

    invoice_id: UUID
    invoice_number: str
    client_id: UUID
    period: str
    purpose: InvoicePurpose
    issued_at: datetime
    total_cents: int
    state: InvoiceState = Field(
        description="issued; sent (mailed); reminded (a payment reminder went out); paid"
    )
    due_date: date | None = None
    sent_at: datetime | None = None
    reminders: int = 0


class InvoiceRead(InvoiceSummary):
    """An issued invoice with its lines, the log positions behind it and what is paid."""

    lines: list[LineRead]
    subtotal_cents: int
    vat_rate_percent: int
    vat_cents: int
    computed_from: list[PositionRead]
    paid_cents: int
    credited_cents: int
    outstanding_cents: int
    status: Literal["open", "paid"]
    billing_stream_position: int | None = Field(
        default=None, description="How many of the client's billing events it was computed from"
    )


class CreditNoteRead(BaseModel):
    """An issued credit note against an earlier invoice."""

    credit_note_id: UUID
    credit_note_number: str
    client_id: UUID
    original_invoice_id: UUID
    period: str
    issued_at: datetime
    lines: list[LineRead]
    subtotal_cents: int
    vat_rate_percent: int
    vat_cents: int
    total_cents: int
    reason: str


class PaymentCreate(Request):
    """Money received against an invoice."""

    amount_cents: AmountCents
    paid_at: Instant | None = None
    reference: ShortText = ""


class PaymentRead(BaseModel):
    """A recorded payment and what is still outstanding."""

    payment_id: UUID
    invoice_id: UUID
    amount_cents: int
    paid_at: datetime
    reference: str
    outstanding_cents: int


class TopUpCreate(Request):
    """Punch-card credit to buy (invoiced at once)."""

    amount_cents: AmountCents


class TopUpRead(BaseModel):
    """Credit bought: the new balance and the invoice for it."""

    top_up_id: UUID
    client_id: UUID
    amount_cents: int
    balance_cents: int
    invoice_id: UUID
    invoice_number: str


class WalletEntryRead(BaseModel):
    """A top-up or a draw on the punch card."""

    at: datetime
    amount_cents: int
    balance_cents: int
    top_up_id: UUID | None
    call_id: UUID | None


class WalletRead(BaseModel):
    """The punch card's balance and its entries."""

    client_id: UUID
    balance_cents: int
    entries: list[WalletEntryRead]


class CallDecisionRead(BaseModel):
    """Why one call is billed or not, at which rate, under which terms."""

    call_id: UUID
    period: str
    received_at: datetime
    status: Literal["billable", "non_billable", "pending", "no_terms"]
    reason: str
    billable_since: datetime | None
    rate_cents: int
    terms: str | None
    settlement: str
    amount_cents: int
    drawn_cents: int
    balance_after_cents: int | None
    explanation: str
    event_ids: list[UUID]


class UsageRead(BaseModel):
    """A month as it stands now: per-call decisions, its cost, and what a run would issue."""

    client_id: UUID
    period: str
    calls: list[CallDecisionRead]
    counts: dict[str, int]
    statement: DraftRead | None
    next_invoice: DraftRead | None
    next_credit_notes: list[DraftRead]


class ReplayCreate(Request):
    """Rebuild a client's month from the log, as issued or as of a moment."""

    client_id: UUID
    period: Period
    as_of: Instant | None = None


class DifferenceRead(BaseModel):
    """Recomputed against issued: lines on one side only and the deltas of the totals."""

    matches: bool
    only_in_issued: list[LineRead]
    only_in_recomputed: list[LineRead]
    subtotal_delta_cents: int
    vat_delta_cents: int
    total_delta_cents: int


class IssuedRead(DraftRead):
    """The invoice as issued (from the log)."""

    invoice_id: UUID
    invoice_number: str
    purpose: InvoicePurpose
    issued_at: datetime
    computed_from: list[PositionRead]
    billing_stream_position: int | None = Field(
        default=None, description="How many of the client's billing events it was computed from"
    )


class ReplayRead(BaseModel):
    """A dispute replay: the month recomputed, the invoice issued, the difference and why."""

    client_id: UUID
    period: str
    basis: Literal["as_of", "invoice_positions", "whole_log"]
    records_read: int
    events_used: int
    recomputed: DraftRead | None
    recomputed_credit_notes: list[DraftRead]
    issued: IssuedRead | None
    difference: DifferenceRead
    calls: list[CallDecisionRead]


class WhatIfCreate(Request):
    """The same month under other terms."""

    client_id: UUID
    period: Period
    plan: Plan
    email_handling: EmailHandling = EmailHandling()


class WhatIfRead(BaseModel):
    """The month's cost under the actual terms and under the other ones."""

    client_id: UUID
    period: str
    actual: DraftRead | None
    hypothetical: DraftRead | None
    difference_cents: int


class BureauRead(BaseModel):
    """Who sends the invoice."""

    name: str
    address: list[str]
    vat_number: str
    kvk_number: str = ""
    iban: str
    email: str


class DocumentLineView(BaseModel):
    """A line as printed."""

    description: str
    period: str
    quantity: int
    unit_price_cents: int
    amount_cents: int


class SpecifiedCall(BaseModel):
    """One call of the invoice's month in the appendix: billed at a rate, or why not."""

    received_at: datetime
    caller: str = Field(description="The caller's number, masked to its last four digits")
    billed: bool
    rate_cents: int
    reason: str


class InvoiceDocument(BaseModel):
    """Everything the PDF shows, as data."""

    kind: Literal["invoice", "credit_note"]
    language: str
    labels: dict[str, str]
    number: str
    issue_date: date
    due_date: date | None
    period: str
    original_number: str | None
    bureau: BureauRead
    client_name: str
    client_email: str
    lines: list[DocumentLineView]
    subtotal_cents: int
    vat_rate_percent: int
    vat_cents: int
    total_cents: int
    payment_terms: str
    document_id: UUID | None = None
    client_id: UUID | None = None
    client_country: str = "NL"
    client_vat_number: str | None = Field(
        default=None, description="From the client's billing details, when given"
    )
    client_kvk_number: str | None = None
    client_address: list[str] = Field(
        default=[], description="Postal address lines, the last one postcode and city"
    )
    period_start: date | None = None
    period_end: date | None = None
    specification: list[SpecifiedCall] = []
