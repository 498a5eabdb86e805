"""Per-call decisions: billable or not and why, at which rate, under which terms, settled how.

A call is billable once an e-mail (per-call mail, daily digest or voicemail summary) listed
it, unless its latest mark says non-billable. The rate is the one of the terms in force on the
Amsterdam day it was received. How it is paid depends on those terms' mode:

- per_call: invoiced at its rate on the monthly invoice.
- punch_card: drawn from the prepaid balance in the order calls became billable; a call whose
  rate exceeds the balance left is not drawn (no partial draws, the balance never goes below
  zero) but billed in full as overage on the monthly invoice.
- fixed_monthly: the first calls of a segment (in the order they became billable) are included
  in the fixed amount; the rest are extra calls at the rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from libs.events.calls import CallMarkedNonBillable, MailEvidence
from libs.events.values import FixedMonthlyPlan
from services.billing.domain.calendar import local_date, period_of
from services.billing.domain.ledger import CallFacts, ClientFacts
from services.billing.domain.money import prorate
from services.billing.domain.plans import Segment, Terms, segments, terms_on, timeline

Status = Literal["billable", "non_billable", "pending", "no_terms"]
Settlement = Literal["invoiced", "drawn", "overage", "included", "extra", "none"]


@dataclass(frozen=True)
class CallDecision:
    """Why one call is billed or not, at which rate, under which terms, and how it is paid."""

    call_id: UUID
    period: str
    received_at: datetime
    status: Status
    reason: str
    terms: Terms | None
    rate_cents: int = 0
    billable_since: datetime | None = None
    settlement: Settlement = "none"
    amount_cents: int = 0
    drawn_cents: int = 0
    balance_after_cents: int | None = None
    event_ids: tuple[UUID, ...] = ()
    evidence: MailEvidence | None = None
    """The caller's own mail, when the call is not billed because they e-mailed themselves."""

    @property
    def billable(self) -> bool:
        """Whether the call is billed (on the invoice or from the punch card)."""
        return self.status == "billable"

    def order(self) -> tuple[datetime, datetime, UUID]:
        """Settlement order: when it became billable, then when received, then its id."""
        assert self.billable_since is not None
        return (self.billable_since, self.received_at, self.call_id)


def decide_calls(client: ClientFacts) -> dict[UUID, CallDecision]:
    """The decision for every received call of the client."""
    versions = timeline(client)
    base = [_base(client, f, versions) for f in client.calls.values() if f.received]
    billable = [d for d in base if d.billable]
    settled = {d.call_id: d for d in base}
    per_call = [d for d in billable if _mode(d) == "per_call"]
    settled.update((d.call_id, _invoiced(d)) for d in per_call)
    settled.update(
        _by_id(settle_punch_card(client, [d for d in billable if _mode(d) == "punch_card"]))
    )
    fixed = [d for d in billable if _mode(d) == "fixed_monthly"]
    settled.update(_by_id(settle_fixed(client, versions, fixed)))
    return settled


def _by_id(decisions: Iterable[CallDecision]) -> Iterable[tuple[UUID, CallDecision]]:
    return ((d.call_id, d) for d in decisions)


def _mode(decision: CallDecision) -> str:
    assert decision.terms is not None
    return decision.terms.plan.mode


def _base(client: ClientFacts, facts: CallFacts, versions: list[Terms]) -> CallDecision:
    received = facts.received
    assert received is not None
    terms = terms_on(versions, local_date(received.received_at))
    report = min(facts.reports, key=lambda r: (r.occurred_at, r.event_id), default=None)
    ids = [received.event_id, *(m.event_id for m in facts.marks)]
    if report is not None:
        ids.append(report.event_id)
    if terms is not None:
        ids.append(terms.event_id)
    common: dict[str, Any] = {
        "call_id": facts.call_id,
        "period": period_of(received.received_at),
        "received_at": received.received_at,
        "terms": terms,
        "rate_cents": terms.rate_cents if terms else 0,
        "event_ids": tuple(dict.fromkeys(ids)),
    }
    status, reason = _status(client, facts, terms, report is not None)
    since = max(received.received_at, report.occurred_at) if report else None
    mark = facts.marks[-1] if facts.marks else None
    evidence = mark.evidence if isinstance(mark, CallMarkedNonBillable) else None
    return CallDecision(
        **common, status=status, reason=reason, billable_since=since,
        evidence=evidence if status == "non_billable" else None,
    )  # fmt: skip


def _status(
    client: ClientFacts, facts: CallFacts, terms: Terms | None, reported: bool
) -> tuple[Status, str]:
    if terms is None:
        return "no_terms", "no_terms"
    mark = facts.marks[-1] if facts.marks else None
    ignored_cold_call = False
    if isinstance(mark, CallMarkedNonBillable):
        if mark.reason != "cold_call" or _cold_calls_free(client):
            return "non_billable", mark.reason
        ignored_cold_call = True
    if not reported:
        return "pending", "not_reported"
    return "billable", "cold_call_not_agreed" if ignored_cold_call else "reported"


def _cold_calls_free(client: ClientFacts) -> bool:
    return client.registration is not None and client.registration.cold_calls_free


def _invoiced(decision: CallDecision) -> CallDecision:
    return replace(decision, settlement="invoiced", amount_cents=decision.rate_cents)


def settle_punch_card(client: ClientFacts, calls: list[CallDecision]) -> list[CallDecision]:
    """Draw each call from the balance built by the top-ups bought before it became billable."""
    credits = sorted(client.top_ups, key=lambda t: (t.occurred_at, t.event_id))
    balance, bought, settled = 0, 0, []
    for call in sorted(calls, key=CallDecision.order):
        assert call.billable_since is not None
        while bought < len(credits) and credits[bought].occurred_at <= call.billable_since:
            balance += credits[bought].amount_cents
            bought += 1
        if balance >= call.rate_cents:
            balance -= call.rate_cents
            settled.append(
                replace(call, settlement="drawn", drawn_cents=call.rate_cents,
                        balance_after_cents=balance)
            )  # fmt: skip
        else:
            settled.append(
                replace(call, settlement="overage", amount_cents=call.rate_cents,
                        balance_after_cents=balance)
            )  # fmt: skip
    return settled


def settle_fixed(
    client: ClientFacts, versions: list[Terms], calls: list[CallDecision]
) -> list[CallDecision]:
    """Include the first calls of each segment in the fixed amount; bill the rest as extra."""
    groups: dict[tuple[str, date | None], list[CallDecision]] = defaultdict(list)
    found: dict[tuple[str, date | None], Segment | None] = {}
    cache: dict[str, list[Segment]] = {}
    for call in calls:
        segment = _segment_of(client, versions, call, cache)
        key = (call.period, segment.first if segment else None)
        groups[key].append(call)
        found[key] = segment
    settled: list[CallDecision] = []
    for key, members in groups.items():
        allowance = included_calls(found[key])
        for n, call in enumerate(sorted(members, key=CallDecision.order)):
            if n < allowance:
                settled.append(replace(call, settlement="included"))
            else:
                settled.append(replace(call, settlement="extra", amount_cents=call.rate_cents))
    return settled


def included_calls(segment: Segment | None) -> int:
    """Calls a fixed-monthly segment includes: the plan's number, prorated by days, half up."""
    if segment is None or not isinstance(segment.terms.plan, FixedMonthlyPlan):
        return 0
    return prorate(segment.terms.plan.included_calls, segment.days, segment.of_days)


def _segment_of(
    client: ClientFacts, versions: list[Terms], call: CallDecision, cache: dict[str, list[Segment]]
) -> Segment | None:
    if call.period not in cache:
        cache[call.period] = segments(client, versions, call.period)
    day = local_date(call.received_at)
    return next((s for s in cache[call.period] if s.first <= day <= s.last), None)


def by_period(decisions: Iterable[CallDecision]) -> dict[str, list[CallDecision]]:
    """Decisions grouped by the month the call was received in, oldest call first."""
    grouped: dict[str, list[CallDecision]] = defaultdict(list)
    for decision in sorted(decisions, key=lambda d: (d.received_at, d.call_id)):
        grouped[decision.period].append(decision)
    return grouped
