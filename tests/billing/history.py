"""Builders of the events billing folds, and a helper that issues a month like the service.

Times are UTC; comments give the Amsterdam wall-clock time where it matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from uuid import UUID

from libs.events import (
    CallBillabilityRestored,
    CallMarkedNonBillable,
    CallReceived,
    ClientRegistered,
    EmailHandling,
    Event,
    NotificationSent,
    PerCallPlan,
    Plan,
    PlanChanged,
    new_id,
)
from libs.events.calls import NonBillableReason
from libs.events.envelope import Actor
from libs.events.notify import NotificationKind
from services.billing.domain.documents import run_period
from services.billing.domain.issue import (
    credit_note_issued,
    document_number,
    invoice_issued,
    top_up,
)
from services.billing.domain.ledger import fold
from tests.support import builders

CONTACT = "info@client.nl"
STAFF = Actor(kind="staff", id="staff-1")
"""The staff member who runs invoices and sells credit in these histories."""


def at(text: str) -> datetime:
    """An instant written as ISO text without offset, taken as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def registered(
    client: UUID, when: str, plan: Plan | None = None, *, email: EmailHandling | None = None,
    setup_fee_cents: int = 4500, cold_calls_free: bool = False, language: str = "nl",
) -> ClientRegistered:  # fmt: skip
    """A client signed up at `when`."""
    return builders.registered(
        client, at(when), name=f"Client {client.hex[-4:]}", contact_email=CONTACT,
        language=language, plan=plan or PerCallPlan(), email_handling=email or EmailHandling(),
        cold_calls_free=cold_calls_free, setup_fee_cents=setup_fee_cents,
    )  # fmt: skip


def plan_changed(
    client: UUID, when: str, effective_from: date, plan: Plan, email: EmailHandling | None = None
) -> PlanChanged:
    """New terms from an Amsterdam day."""
    return PlanChanged(
        client_id=client, occurred_at=at(when), plan=plan,
        email_handling=email or EmailHandling(), effective_from=effective_from,
    )  # fmt: skip


def call(client: UUID, when: str) -> CallReceived:
    """A call received (and recorded) at `when`."""
    return builders.call_received(client, at(when))


def reported(
    client: UUID, calls: Iterable[CallReceived], when: str, kind: NotificationKind = "daily_digest"
) -> NotificationSent:
    """An e-mail to the client listing the calls."""
    return NotificationSent(
        client_id=client, occurred_at=at(when), notification_id=new_id(), channel="email",
        kind=kind, recipients=(CONTACT,), dedupe_key=f"digest-{new_id()}",
        call_ids=tuple(c.call_id for c in calls), message_id="<m@frontdesk>",
    )  # fmt: skip


def marked(call: CallReceived, reason: NonBillableReason, when: str) -> CallMarkedNonBillable:
    """The call marked non-billable."""
    return CallMarkedNonBillable(**builders.on_call(call, at(when)), reason=reason)


def restored(call: CallReceived, when: str) -> CallBillabilityRestored:
    """The call's non-billable mark reverted."""
    return CallBillabilityRestored(**builders.on_call(call, at(when)))


class Numbers:
    """Gap-free invoice and credit-note numbers, as the service's counters give them."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, prefix: str, year: int) -> str:
        """The next number of a kind of document."""
        key = f"{prefix}{year}"
        self.last[key] = self.last.get(key, 0) + 1
        return document_number(prefix, year, self.last[key])


def issue_month(
    history: Sequence[Event], period: str, when: str, numbers: Numbers,
    clients: Iterable[UUID] | None = None,
) -> list[Event]:  # fmt: skip
    """The billing events an invoice run at `when` appends, per client: credit notes, invoice."""
    ledger = fold(history)
    issued: list[Event] = []
    instant = at(when)
    for client_id in sorted(clients or ledger):
        run = run_period(ledger[client_id], period)
        for note in run.credit_notes:
            number = numbers.next("CN-", instant.year)
            issued.append(credit_note_issued(client_id, note, credit_note_id=new_id(),
                                             number=number, at=instant,
                                             actor=STAFF))  # fmt: skip
        if run.invoice is not None:
            number = numbers.next("", instant.year)
            issued.append(invoice_issued(client_id, run.invoice, invoice_id=new_id(),
                                         number=number, at=instant, computed_from=(),
                                         actor=STAFF))  # fmt: skip
    return issued


def buy_credit(
    history: Sequence[Event], client_id: UUID, amount: int, when: str, numbers: Numbers
) -> list[Event]:
    """A punch-card top-up and its invoice, as `POST /clients/{id}/punch-card` appends them."""
    bought = top_up(fold(history)[client_id], amount, top_up_id=new_id(), at=at(when), actor=STAFF)
    number = numbers.next("", at(when).year)
    invoice = invoice_issued(client_id, bought.invoice, invoice_id=new_id(), number=number,
                             at=at(when), computed_from=(), actor=STAFF)  # fmt: skip
    return [bought.event, invoice]
