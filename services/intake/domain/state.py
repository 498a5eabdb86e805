"""What the intake service knows of a client and of the numbers it has seen: a fold of events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from libs.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    EmailHandling,
    Event,
    NumberAssigned,
    NumberReleased,
    Plan,
    PlanChanged,
    SecretaryBookRevised,
)
from libs.events.intake import (
    BillingDetailsChanged,
    EnquiryRecorded,
    IntakeFormReceived,
    NumberAddedToPool,
    OffboardingCancelled,
    OffboardingScheduled,
    QuoteIssued,
    TelephonyConfigured,
    TermsAccepted,
)
from services.intake.domain.onboarding import Onboarding, Step, started
from services.intake.domain.pool import PoolNumber

Status = Literal["registered", "active", "offboarded"]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local_date(instant: datetime) -> date:
    """The Europe/Amsterdam calendar day of an instant."""
    return instant.astimezone(AMSTERDAM).date()


@dataclass(frozen=True)
class BookRevision:
    """One version of the secretary book and when it was written."""

    version: int
    revised_at: datetime


@dataclass(frozen=True)
class PlanPeriod:
    """Commercial terms in force from a day on (until a later period starts)."""

    plan: Plan
    email_handling: EmailHandling
    effective_from: date
    recorded_at: datetime


@dataclass(frozen=True)
class ClientState:
    """One client's lifecycle, book versions and plan history."""

    client_id: UUID
    status: Status
    registered_at: datetime
    plans: tuple[PlanPeriod, ...]
    books: tuple[BookRevision, ...] = ()
    onboarding: Onboarding | None = None
    offboard_at: datetime | None = None
    billing_details: bool = False
    """Whether whom the invoices are addressed to was recorded (BillingDetailsChanged)."""

    @property
    def book_version(self) -> int:
        """The latest book version (0 before the first one)."""
        return self.books[-1].version if self.books else 0


@dataclass(frozen=True)
class KeyState:
    """An API key as far as decisions care: whose it is and whether it was revoked."""

    key_id: UUID
    client_id: UUID
    revoked: bool = False


@dataclass(frozen=True)
class State:
    """What a decision may look at: the client, who holds each number seen, the pool numbers
    seen (their streams are loaded whole), the keys seen."""

    client: ClientState | None = None
    holders: Mapping[str, UUID] = field(default_factory=dict)
    keys: Mapping[UUID, KeyState] = field(default_factory=dict)
    pool: Mapping[str, PoolNumber] = field(default_factory=dict)

    def numbers_of(self, client_id: UUID) -> tuple[str, ...]:
        """The numbers the client holds, sorted."""
        return tuple(sorted(n for n, holder in self.holders.items() if holder == client_id))

    def quarantine_of(self, number: str) -> datetime | None:
        """Until when the number rests after its last client (None: it never had to)."""
        entry = self.pool.get(number)
        return entry.quarantine_until if entry else None


def fold(events: Iterable[Event], state: State | None = None) -> State:
    """The state after the events, in order."""
    state = state or State()
    for event in events:
        state = evolve(state, event)
    return state


def evolve(state: State, event: Event) -> State:
    """The state after one more event."""
    if isinstance(event, NumberAddedToPool):
        entry = PoolNumber(event.number, event.occurred_at)
        return replace(state, pool={**state.pool, event.number: entry})
    if isinstance(event, NumberAssigned):
        held = replace(state, holders={**state.holders, event.number: event.client_id})
        if state.client is None or state.client.client_id != event.client_id:
            return held
        return replace(held, client=_onboarding_step(state.client, "number", event.occurred_at))
    if isinstance(event, NumberReleased):
        return _released(state, event)
    if isinstance(event, ApiKeyIssued | ApiKeyRevoked):
        return replace(state, keys={**state.keys, event.key_id: _key(state, event)})
    if state.client is not None and state.client.client_id != event.client_id:
        return state
    return replace(state, client=evolve_client(state.client, event))


def _released(state: State, event: NumberReleased) -> State:
    # a number given back belongs to the pool, even one handed out before the pool existed
    entry = state.pool.get(event.number) or PoolNumber(event.number, event.occurred_at)
    holders = {n: c for n, c in state.holders.items() if n != event.number}
    pool = {**state.pool, event.number: replace(entry, quarantine_until=event.quarantine_until)}
    return replace(state, holders=holders, pool=pool)


def _key(state: State, event: ApiKeyIssued | ApiKeyRevoked) -> KeyState:
    if isinstance(event, ApiKeyIssued):
        return KeyState(event.key_id, event.client_id)
    return replace(
        state.keys.get(event.key_id, KeyState(event.key_id, event.client_id)), revoked=True
    )


def evolve_client(client: ClientState | None, event: Event) -> ClientState | None:
    """The client after one more of its events."""
    if isinstance(event, ClientRegistered):
        return _registered(event)
    if client is None:
        return None
    if isinstance(event, ClientActivated):
        return _onboarding_step(replace(client, status="active"), "active", event.occurred_at)
    if isinstance(event, OnboardingEvent):
        return _onboarded(client, event)
    if isinstance(event, ClientOffboarded):
        return replace(client, status="offboarded", offboard_at=None)
    if isinstance(event, OffboardingScheduled):
        return replace(client, offboard_at=event.effective_at)
    if isinstance(event, OffboardingCancelled):
        return replace(client, offboard_at=None)
    if isinstance(event, BillingDetailsChanged):
        return replace(client, billing_details=True)
    if isinstance(event, SecretaryBookRevised):
        revision = BookRevision(event.book_version, event.occurred_at)
        return replace(client, books=(*client.books, revision))
    if isinstance(event, PlanChanged):
        period = PlanPeriod(
            event.plan, event.email_handling, event.effective_from, event.occurred_at
        )
        return replace(client, plans=(*client.plans, period))
    return client


OnboardingEvent = (
    EnquiryRecorded | QuoteIssued | IntakeFormReceived | TermsAccepted | TelephonyConfigured
)
_STEP_OF: dict[type[Event], Step] = {
    QuoteIssued: "quote", IntakeFormReceived: "intake_form", TermsAccepted: "terms",
    TelephonyConfigured: "telephony",
}  # fmt: skip


def _onboarded(client: ClientState, event: OnboardingEvent) -> ClientState:
    if isinstance(event, EnquiryRecorded):
        return replace(client, onboarding=started(event.occurred_at))
    if client.onboarding is None:
        return client
    process = client.onboarding
    if isinstance(event, QuoteIssued):  # a new quote replaces the one before
        process = replace(process, quote_valid_until=event.valid_until)
        process = replace(process, done={**process.done, "quote": event.occurred_at})
        return replace(client, onboarding=process)
    if isinstance(event, TermsAccepted):
        process = replace(process, terms_version=event.terms_version)
    step = _STEP_OF[type(event)]
    return replace(client, onboarding=process.with_step(step, event.occurred_at))


def _onboarding_step(client: ClientState, step: Step, at: datetime) -> ClientState:
    if client.onboarding is None:
        return client
    return replace(client, onboarding=client.onboarding.with_step(step, at))


def _registered(event: ClientRegistered) -> ClientState:
    first = PlanPeriod(
        event.plan, event.email_handling, local_date(event.occurred_at), event.occurred_at
    )
    return ClientState(event.client_id, "registered", event.occurred_at, (first,))
