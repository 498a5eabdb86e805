"""The per-call appendix of an invoice: each billed call with its rate, the others with why not."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.billing.domain.decisions import CallDecision, decide_calls
from services.billing.domain.dunning import masked_number
from services.billing.domain.ledger import ClientFacts


@dataclass(frozen=True)
class SpecLine:
    """One call in the appendix."""

    received_at: datetime
    caller: str
    billed: bool
    rate_cents: int
    reason: str


def specification(
    client: ClientFacts, billed: Collection[UUID], period: str,
    decisions: Mapping[UUID, CallDecision] | None = None,
) -> list[SpecLine]:  # fmt: skip
    """The invoice's calls (those its lines name) and the month's non-billable ones, in order.

    `decisions` are the client's call decisions when the caller has them already (an invoice
    run has just taken them: they depend on calls, terms and top-ups, no issued document)."""
    decided = decide_calls(client) if decisions is None else decisions
    found = [
        _line(client, d, d.call_id in billed)
        for d in decided.values()
        if d.call_id in billed or (d.period == period and d.status == "non_billable")
    ]
    return sorted(found, key=lambda line: line.received_at)


def _line(client: ClientFacts, decision: CallDecision, billed: bool) -> SpecLine:
    received = client.calls[decision.call_id].received
    number = received.caller_number if received is not None else None
    return SpecLine(
        received_at=decision.received_at, caller=masked_number(number), billed=billed,
        rate_cents=decision.rate_cents if billed else 0,
        reason="" if billed else decision.reason,
    )  # fmt: skip
