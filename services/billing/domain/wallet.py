"""The punch-card wallet: its balance, its entries, and when to warn that it runs low."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from libs.events.billing import PunchCardLow
from libs.events.values import PunchCardPlan
from services.billing.domain.calendar import local_date
from services.billing.domain.decisions import CallDecision, decide_calls
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.plans import terms_on, timeline


@dataclass(frozen=True)
class WalletEntry:
    """A top-up (positive) or a call drawn from the card (negative), with the balance after."""

    at: datetime
    amount_cents: int
    balance_cents: int
    top_up_id: UUID | None = None
    call_id: UUID | None = None


def wallet(
    client: ClientFacts, decisions: dict[UUID, CallDecision] | None = None
) -> list[WalletEntry]:
    """Every top-up and draw in order; calls billed as overage do not touch the card."""
    decisions = decide_calls(client) if decisions is None else decisions
    moves: list[tuple[datetime, int, UUID, int, bool]] = [
        (t.occurred_at, 0, t.top_up_id, t.amount_cents, True) for t in client.top_ups
    ]
    for d in decisions.values():
        if d.settlement == "drawn" and d.billable_since is not None:
            moves.append((d.billable_since, 1, d.call_id, -d.drawn_cents, False))
    entries: list[WalletEntry] = []
    balance = 0
    for at, _, ref, amount, topped in sorted(moves):
        balance += amount
        entries.append(WalletEntry(at, amount, balance, ref if topped else None,
                                   None if topped else ref))  # fmt: skip
    return entries


def balance(client: ClientFacts, decisions: dict[UUID, CallDecision] | None = None) -> int:
    """The credit left on the card: everything bought minus every call drawn."""
    entries = wallet(client, decisions)
    return entries[-1].balance_cents if entries else 0


def low_balance_warning(client: ClientFacts, now: datetime) -> PunchCardLow | None:
    """A PunchCardLow when the card in force is below its threshold and not yet warned about."""
    terms = terms_on(timeline(client), local_date(now))
    if terms is None or not isinstance(terms.plan, PunchCardPlan) or client.offboarded:
        return None
    left = balance(client)
    threshold = terms.plan.low_balance_threshold_cents
    if left >= threshold:
        return None
    last_top_up = max((t.occurred_at for t in client.top_ups), default=None)
    if any(last_top_up is None or low.occurred_at >= last_top_up for low in client.lows):
        return None
    return PunchCardLow(client_id=client.client_id, occurred_at=now, balance_cents=left,
                        threshold_cents=threshold)  # fmt: skip
