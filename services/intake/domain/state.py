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
    """What a decision may look at: the client, who holds each number seen, the keys seen."""

    client: ClientState | None = None
    holders: Mapping[str, UUID] = field(default_factory=dict)
    keys: Mapping[UUID, KeyState] = field(default_factory=dict)

    def numbers_of(self, client_id: UUID) -> tuple[str, ...]:
        """The numbers the client holds, sorted."""
        return tuple(sorted(n for n, holder in self.holders.items() if holder == client_id))


def fold(events: Iterable[Event], state: State | None = None) -> State:
    """The state after the events, in order."""
    state = state or State()
    for event in events:
        state = evolve(state, event)
    return state


def evolve(state: State, event: Event) -> State:
    """The state after one more event."""
    if isinstance(event, NumberAssigned):
        return replace(state, holders={**state.holders, event.number: event.client_id})
    if isinstance(event, NumberReleased):
        return replace(state, holders={n: c for n, c in state.holders.items() if n != event.number})
    if isinstance(event, ApiKeyIssued | ApiKeyRevoked):
        return replace(state, keys={**state.keys, event.key_id: _key(state, event)})
    if state.client is not None and state.client.client_id != event.client_id:
        return state
    return replace(state, client=evolve_client(state.client, event))


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
        return replace(client, status="active")
    if isinstance(event, ClientOffboarded):
        return replace(client, status="offboarded")
    if isinstance(event, SecretaryBookRevised):
        revision = BookRevision(event.book_version, event.occurred_at)
        return replace(client, books=(*client.books, revision))
    if isinstance(event, PlanChanged):
        period = PlanPeriod(
            event.plan, event.email_handling, event.effective_from, event.occurred_at
        )
        return replace(client, plans=(*client.plans, period))
    return client


def _registered(event: ClientRegistered) -> ClientState:
    first = PlanPeriod(
        event.plan, event.email_handling, local_date(event.occurred_at), event.occurred_at
    )
    return ClientState(event.client_id, "registered", event.occurred_at, (first,))
