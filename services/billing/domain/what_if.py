"""What-if: the same month recomputed under other terms, e.g. EUR 2.00 vs EUR 1.00 per call."""

from __future__ import annotations

from dataclasses import dataclass, replace

from libs.errors import NotFound
from libs.events.values import EmailHandling, Plan
from services.billing.domain.documents import Draft, statement
from services.billing.domain.ledger import ClientFacts


@dataclass(frozen=True)
class WhatIf:
    """The month under the client's actual terms and under the hypothetical ones."""

    period: str
    actual: Draft | None
    hypothetical: Draft | None

    @property
    def difference_cents(self) -> int:
        """Hypothetical total minus actual total (negative: the other terms are cheaper)."""
        return _total(self.hypothetical) - _total(self.actual)


def _total(draft: Draft | None) -> int:
    return draft.total_cents if draft else 0


def under_terms(client: ClientFacts, plan: Plan, email_handling: EmailHandling) -> ClientFacts:
    """The client's facts as if these terms had applied from registration on, unchanged."""
    if client.registration is None:
        raise NotFound(f"no client {client.client_id}")
    registration = client.registration.model_copy(
        update={"plan": plan, "email_handling": email_handling}
    )
    return replace(client, registration=registration, plan_changes=[])


def what_if(client: ClientFacts, period: str, plan: Plan, email_handling: EmailHandling) -> WhatIf:
    """The month's statement under the actual terms and under `plan` and `email_handling`."""
    other = under_terms(client, plan, email_handling)
    return WhatIf(period, statement(client, period), statement(other, period))
