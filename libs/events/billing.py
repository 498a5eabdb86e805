"""Events of the billing service: invoices, credit notes, punch-card credit and payments."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field, Strict, StringConstraints, model_validator

from libs.events.envelope import Event, Service
from libs.events.values import (
    Cents,
    Count,
    Email,
    Language,
    Period,
    ShortText,
    SignedCents,
    UtcDatetime,
    ValueObject,
)

DocumentNumber = Annotated[str, StringConstraints(pattern=r"^([A-Z]{1,4}-)?[0-9]{4}-[0-9]{6}$")]
"""A gapless per-year number: "2026-000123" for invoices, e.g. "CN-2026-000004" for credit notes."""
LineKind = Literal[
    "calls",
    "extra_calls",
    "setup_fee",
    "email_handling",
    "fixed_monthly",
    "punch_card_credit",
    "correction",
]
InvoicePurpose = Literal["monthly", "top_up"]
"""What an invoice is for: a calendar month's usage and fees, or punch-card credit bought."""


class LogPosition(ValueObject):
    """A position in the event log: everything up to and including it was read."""

    topic: str = Field(min_length=1, max_length=249)
    partition: Count
    offset: Count


class DocumentLine(ValueObject):
    """One line of an invoice or credit note, naming the calls and events behind it."""

    kind: LineKind
    description: ShortText = Field(min_length=1)
    period: Period
    quantity: Count
    unit_price_cents: SignedCents
    amount_cents: SignedCents
    call_ids: tuple[UUID, ...] = Field(default=(), max_length=10000)
    event_ids: tuple[UUID, ...] = Field(default=(), max_length=50000)
    corrects_invoice_id: UUID | None = None

    @model_validator(mode="after")
    def _amount_is_quantity_times_price(self) -> DocumentLine:
        if self.amount_cents != self.quantity * self.unit_price_cents:
            raise ValueError("amount_cents must equal quantity * unit_price_cents")
        return self


class BillingEvent(Event):
    """Base of the events the billing service emits."""

    service: ClassVar[Service] = "billing"


class BillingDocument(BillingEvent):
    """Fields and checks shared by invoices and credit notes; totals are never negative."""

    period: Period
    lines: tuple[DocumentLine, ...] = Field(min_length=1, max_length=1000)
    subtotal_cents: Cents
    vat_rate_percent: int = Field(default=21, ge=0, le=100)
    vat_cents: Cents
    total_cents: Cents

    @model_validator(mode="after")
    def _totals_add_up(self) -> BillingDocument:
        if self.subtotal_cents != sum(line.amount_cents for line in self.lines):
            raise ValueError("subtotal_cents must equal the sum of the line amounts")
        if self.total_cents != self.subtotal_cents + self.vat_cents:
            raise ValueError("total_cents must equal subtotal_cents + vat_cents")
        return self


class InvoiceIssued(BillingDocument):
    """An invoice, fixed forever: what it is for and exactly which events it was computed from.

    It saw the input topics up to `computed_from` (per partition) and the first
    `billing_stream_position` events of the client's billing stream, so a replay that takes
    just those events recomputes it. Version 1 had neither `purpose` nor that position.
    """

    type: Literal["InvoiceIssued"] = "InvoiceIssued"
    schema_version: Annotated[int, Strict()] = Field(default=2, ge=1)
    invoice_id: UUID
    invoice_number: DocumentNumber
    purpose: InvoicePurpose
    computed_from: tuple[LogPosition, ...] = Field(max_length=1000)
    billing_stream_position: Count | None = Field(
        description="How many of the client's billing events (in stream order) the invoice "
        "was computed from; null for invoices issued before it was recorded"
    )


def invoice_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """A version 1 invoice: its purpose follows from its lines; its stream position is unknown."""
    lines = raw.get("lines") or ()
    bought_credit = any(line.get("kind") == "punch_card_credit" for line in lines)
    return {**raw, "purpose": "top_up" if bought_credit else "monthly",
            "billing_stream_position": None}  # fmt: skip


class CreditNoteIssued(BillingDocument):
    """A correction of an issued invoice; amounts are what is credited to the client."""

    type: Literal["CreditNoteIssued"] = "CreditNoteIssued"
    credit_note_id: UUID
    credit_note_number: DocumentNumber
    original_invoice_id: UUID
    reason: ShortText = ""


class PunchCardToppedUp(BillingEvent):
    """The client bought punch-card credit; the balance may have been negative before."""

    type: Literal["PunchCardToppedUp"] = "PunchCardToppedUp"
    top_up_id: UUID
    amount_cents: Annotated[int, Field(gt=0)]
    balance_cents: SignedCents


class PunchCardLow(BillingEvent):
    """The punch-card balance fell below the client's threshold."""

    type: Literal["PunchCardLow"] = "PunchCardLow"
    balance_cents: SignedCents
    threshold_cents: Cents


class PaymentRecorded(BillingEvent):
    """A payment against an invoice was received."""

    type: Literal["PaymentRecorded"] = "PaymentRecorded"
    payment_id: UUID
    invoice_id: UUID
    amount_cents: Annotated[int, Field(gt=0)]
    paid_at: UtcDatetime
    reference: ShortText = ""


MessageId = Annotated[str, StringConstraints(pattern=r"^<[^<>\s@]+@[A-Za-z0-9.-]+>$")]
"""An RFC 5322 Message-ID, angle brackets included."""
DocumentKind = Literal["invoice", "credit_note"]


class InvoiceSent(BillingEvent):
    """An invoice or credit note was queued for mail to the client, PDF and UBL attached.

    Recorded with the mail's Message-ID before the mail is handed to the relay; a resend after
    a crash carries the same Message-ID, so receivers see one message.
    """

    type: Literal["InvoiceSent"] = "InvoiceSent"
    document_id: UUID
    document_kind: DocumentKind
    document_number: DocumentNumber
    message_id: MessageId
    recipients: tuple[Email, ...] = Field(min_length=1, max_length=20)
    language: Language


class PaymentReminderSent(BillingEvent):
    """A payment reminder for an overdue invoice was queued for mail to the client."""

    type: Literal["PaymentReminderSent"] = "PaymentReminderSent"
    invoice_id: UUID
    invoice_number: DocumentNumber
    reminder_number: int = Field(ge=1, le=20)
    due_date: date
    outstanding_cents: Annotated[int, Field(gt=0)]
    message_id: MessageId
    recipients: tuple[Email, ...] = Field(min_length=1, max_length=20)
    language: Language


BILLING_EVENTS: tuple[type[BillingEvent], ...] = (
    InvoiceIssued,
    CreditNoteIssued,
    PunchCardToppedUp,
    PunchCardLow,
    PaymentRecorded,
    InvoiceSent,
    PaymentReminderSent,
)
