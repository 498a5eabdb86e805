"""The client's terms over time: which plan and e-mail handling are in force on which day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from libs.events.values import EmailHandling, Plan
from services.billing.domain.calendar import first_day, last_day, local_date, month_days
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.money import CALL_RATE_CENTS, EMAIL_HANDLING_CALL_RATE_CENTS


@dataclass(frozen=True)
class Terms:
    """One version of the client's terms, in force from an Amsterdam day."""

    plan: Plan
    email_handling: EmailHandling
    effective_from: date
    recorded_at: datetime
    event_id: UUID

    @property
    def rate_cents(self) -> int:
        """The price of one billable call under these terms."""
        if self.email_handling.enabled:
            return EMAIL_HANDLING_CALL_RATE_CENTS
        return CALL_RATE_CENTS

    def describe(self) -> str:
        """The terms in a few words, for explanations."""
        extra = " with e-mail handling" if self.email_handling.enabled else ""
        return f"{self.plan.mode}{extra} from {self.effective_from.isoformat()}"


@dataclass(frozen=True)
class Segment:
    """Consecutive days of one month under the same terms."""

    period: str
    terms: Terms
    first: date
    last: date

    @property
    def days(self) -> int:
        """How many days the segment covers."""
        return (self.last - self.first).days + 1

    @property
    def of_days(self) -> int:
        """How many days its month has."""
        return month_days(self.period)


def timeline(client: ClientFacts) -> list[Terms]:
    """Every version of the terms, in force order; of two for the same day the later counts."""
    found: list[Terms] = []
    reg = client.registration
    if reg is not None:
        start = local_date(reg.occurred_at)
        found.append(Terms(reg.plan, reg.email_handling, start, reg.occurred_at, reg.event_id))
    for change in client.plan_changes:
        found.append(
            Terms(
                change.plan,
                change.email_handling,
                change.effective_from,
                change.occurred_at,
                change.event_id,
            )
        )
    return sorted(found, key=lambda t: (t.effective_from, t.recorded_at, t.event_id))


def terms_on(versions: list[Terms], day: date) -> Terms | None:
    """The terms in force on a day; None before the first version (no terms were agreed yet)."""
    current = None
    for terms in versions:
        if terms.effective_from > day:
            break
        current = terms
    return current


def last_billed_day(client: ClientFacts) -> date | None:
    """The last day the client is under contract: the day it was offboarded (None: ongoing)."""
    return local_date(client.offboarded.occurred_at) if client.offboarded else None


def segments(client: ClientFacts, versions: list[Terms], period: str) -> list[Segment]:
    """The month cut into runs of days under the same terms, from the first terms on."""
    if not versions:
        return []
    start = max(first_day(period), versions[0].effective_from)
    end = last_day(period)
    ended = last_billed_day(client)
    if ended is not None:
        end = min(end, ended)
    found: list[Segment] = []
    day = start
    while day <= end:
        terms = terms_on(versions, day)
        assert terms is not None
        if found and found[-1].terms == terms:
            found[-1] = Segment(period, terms, found[-1].first, day)
        else:
            found.append(Segment(period, terms, day, day))
        day += timedelta(days=1)
    return found
