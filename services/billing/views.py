"""Domain results and stored documents turned into API responses."""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import UUID

from libs.events.billing import DocumentLine, InvoiceIssued
from services.billing.domain.calendar import local_date
from services.billing.domain.decisions import CallDecision
from services.billing.domain.documents import Draft, PeriodRun
from services.billing.domain.dunning import due_date, invoice_state
from services.billing.domain.explain import explain
from services.billing.domain.replay import Replay
from services.billing.schemas import (
    CallDecisionRead,
    DifferenceRead,
    DraftRead,
    IssuedRead,
    LineRead,
    ReplayRead,
    UsageRead,
)


def line_read(line: DocumentLine) -> LineRead:
    """A document line as the API shows it."""
    return LineRead.model_validate(line.model_dump())


def draft_read(draft: Draft | None) -> DraftRead | None:
    """A computed document as the API shows it."""
    if draft is None:
        return None
    return DraftRead(
        period=draft.period,
        lines=[line_read(line) for line in draft.lines],
        subtotal_cents=draft.subtotal_cents,
        vat_rate_percent=draft.vat_rate_percent,
        vat_cents=draft.vat_cents,
        total_cents=draft.total_cents,
        original_invoice_id=draft.original_invoice_id,
    )


def decision_read(decision: CallDecision) -> CallDecisionRead:
    """One call's decision with its explanation."""
    return CallDecisionRead(
        call_id=decision.call_id,
        period=decision.period,
        received_at=decision.received_at,
        status=decision.status,
        reason=decision.reason,
        billable_since=decision.billable_since,
        rate_cents=decision.rate_cents,
        terms=decision.terms.describe() if decision.terms else None,
        settlement=decision.settlement,
        amount_cents=decision.amount_cents,
        drawn_cents=decision.drawn_cents,
        balance_after_cents=decision.balance_after_cents,
        explanation=explain(decision),
        event_ids=list(decision.event_ids),
    )


def counts(decisions: list[CallDecision]) -> dict[str, int]:
    """How many calls per status, and per non-billable reason."""
    found: Counter[str] = Counter(d.status for d in decisions)
    found.update(f"non_billable:{d.reason}" for d in decisions if d.status == "non_billable")
    return dict(found)


def usage_read(client_id: UUID, period: str, run: PeriodRun, month: Draft | None) -> UsageRead:
    """The month as it stands: decisions, cost, and what the next run would issue."""
    calls = run.calls()
    notes = [draft_read(note) for note in run.credit_notes]
    return UsageRead(
        client_id=client_id,
        period=period,
        calls=[decision_read(d) for d in calls],
        counts=counts(calls),
        statement=draft_read(month),
        next_invoice=draft_read(run.invoice),
        next_credit_notes=[n for n in notes if n is not None],
    )


def issued_read(invoice: InvoiceIssued | None) -> IssuedRead | None:
    """An issued invoice event as the API shows it."""
    if invoice is None:
        return None
    data = invoice.model_dump()
    return IssuedRead.model_validate({**data, "issued_at": invoice.occurred_at})


def replay_read(replay: Replay, records_read: int) -> ReplayRead:
    """A dispute replay as the API shows it."""
    diff = replay.difference
    notes = [draft_read(note) for note in replay.run.credit_notes]
    return ReplayRead(
        client_id=replay.client_id,
        period=replay.period,
        basis=replay.basis,
        records_read=records_read,
        events_used=replay.events_used,
        recomputed=draft_read(replay.run.invoice),
        recomputed_credit_notes=[n for n in notes if n is not None],
        issued=issued_read(replay.issued),
        difference=DifferenceRead(
            matches=diff.matches,
            only_in_issued=[line_read(x) for x in diff.only_in_issued],
            only_in_recomputed=[line_read(x) for x in diff.only_in_recomputed],
            subtotal_delta_cents=diff.subtotal_delta_cents,
            vat_delta_cents=diff.vat_delta_cents,
            total_delta_cents=diff.total_delta_cents,
        ),
        calls=[decision_read(d) for d in replay.calls],
    )


def invoice_fields(
    row: Any, data: dict[str, Any], paid: int, credited: int, terms_days: int
) -> dict[str, Any]:
    """The fields of InvoiceRead from a stored invoice and what was paid and credited."""
    outstanding = data["total_cents"] - paid - credited
    return {
        **data,
        **delivery_fields(row, outstanding, terms_days),
        "purpose": row["purpose"],
        "issued_at": row["issued_at"],
        "paid_cents": paid,
        "credited_cents": credited,
        "outstanding_cents": outstanding,
        "status": "paid" if outstanding <= 0 else "open",
    }


def delivery_fields(row: Any, outstanding_cents: int, terms_days: int) -> dict[str, Any]:
    """An invoice's due date, whether it was mailed and reminded, and its state."""
    sent = row["sent_at"] is not None
    return {
        "due_date": due_date(local_date(row["issued_at"]), terms_days),
        "sent_at": row["sent_at"],
        "reminders": row["reminders"],
        "state": invoice_state(outstanding_cents, sent, row["reminders"]),
    }
