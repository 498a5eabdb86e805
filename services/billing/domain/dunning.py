"""When an invoice falls due, which payment reminder is due, and what state an invoice is in.

An invoice is due `terms_days` after its date (the Amsterdam calendar day it was issued on).
Reminders go out on set days after the due date (e.g. 7 and 21). A reminder stage reached is
sent once; a clock that jumps past several stages at once sends one reminder (the latest
stage reached), never a burst. Nothing is due once the invoice is settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

InvoiceState = Literal["issued", "sent", "reminded", "paid"]


def due_date(invoice_date: date, terms_days: int) -> date:
    """The last day the invoice may be paid on."""
    return invoice_date + timedelta(days=terms_days)


def stages_reached(due: date, today: date, reminder_days: Sequence[int]) -> int:
    """How many reminder stages have been reached by `today` (0 before the first)."""
    return sum(1 for days in reminder_days if today >= due + timedelta(days=days))


@dataclass(frozen=True)
class Dunning:
    """What billing knows of an invoice's payment: enough to say whether to remind."""

    due: date
    outstanding_cents: int
    reminders_sent: int
    sent: bool


def reminder_due(invoice: Dunning, today: date, reminder_days: Sequence[int]) -> int | None:
    """The number of the reminder to send today, or None (settled, not yet mailed, or done)."""
    if invoice.outstanding_cents <= 0 or not invoice.sent:
        return None
    reached = stages_reached(invoice.due, today, reminder_days)
    return reached if reached > invoice.reminders_sent else None


def invoice_state(outstanding_cents: int, sent: bool, reminders: int) -> InvoiceState:
    """Paid when nothing is outstanding; else reminded, sent or just issued."""
    if outstanding_cents <= 0:
        return "paid"
    if reminders > 0:
        return "reminded"
    return "sent" if sent else "issued"


def masked_number(number: str | None) -> str:
    """A caller's number with all but the last four digits hidden ("-" when withheld)."""
    if not number:
        return "-"
    return "*" * max(len(number) - 4, 0) + number[-4:]
