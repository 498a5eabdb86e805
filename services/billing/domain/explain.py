"""Per-call explanations in plain words, for staff and for disputes."""

from __future__ import annotations

from services.billing.domain.decisions import CallDecision
from services.billing.domain.money import euros

REASONS: dict[str, str] = {
    "wrong_number": "not billable: wrong number",
    "urgent_family_matter": "not billable: urgent family matter",
    "caller_follows_up_themselves": "not billable: the caller e-mailed or called back themselves",
    "cold_call": "not billable: cold call (free for this client)",
    "incomplete_intake": "not billable: caused by incomplete intake details",
    "not_reported": "not billable yet: its message has not reached the client by e-mail",
    "no_terms": "not billable: no terms of the client were in force on the day of the call",
}
SETTLEMENTS: dict[str, str] = {
    "invoiced": "invoiced at EUR {rate}",
    "drawn": "drawn from the punch card (EUR {rate}), EUR {balance} left",
    "overage": "EUR {rate} invoiced as overage: the punch card held only EUR {balance}",
    "included": "included in the fixed monthly amount",
    "extra": "EUR {rate} invoiced as an extra call beyond the included calls",
}


def explain(decision: CallDecision) -> str:
    """Why the call is billed or not, at which rate, under which terms."""
    if not decision.billable:
        said = REASONS.get(decision.reason, decision.reason)
        mail = decision.evidence
        if mail is None:
            return said
        when = mail.received_at.strftime("%Y-%m-%d %H:%M UTC")
        subject = f' "{mail.subject}"' if mail.subject else ""
        return (
            f"{said}; evidence: their e-mail{subject} from {mail.sender} of {when} "
            f"(Message-ID <{mail.message_id}>)"
        )
    assert decision.terms is not None
    assert decision.billable_since is not None
    since = decision.billable_since.isoformat()
    head = f"billable since {since} (reported by e-mail)"
    if decision.reason == "cold_call_not_agreed":
        head += "; its cold-call mark does not count: cold calls are not free for this client"
    how = SETTLEMENTS[decision.settlement].format(
        rate=euros(decision.rate_cents), balance=euros(decision.balance_after_cents or 0)
    )
    return f"{head}; {how}; terms: {decision.terms.describe()}"
