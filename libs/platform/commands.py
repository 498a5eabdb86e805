"""One way to run a command: load, decide, append at the expected versions, project; retry.

An attempt runs in one transaction, so the appends and the service's own read tables commit
together or not at all. A concurrent writer makes an append fail with ConcurrencyConflict;
the command is then decided again on the fresh state, up to ATTEMPTS times, after which the
caller gets libs.errors.Conflict. Where an attempt's transaction comes from is the caller's
choice: `on_postgres(store)` (each attempt a transaction of its own, or a savepoint when the
store's connection is already in one, as in the tests that roll back) or `in_memory(store)`
(MemoryEventStore: an attempt's appends are written when it ends, all or none).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import structlog

from libs.errors import Conflict
from libs.events.envelope import Event
from libs.platform.db import Connection
from libs.platform.memory_store import MemoryEventStore
from libs.platform.store import ConcurrencyConflict, EventStore, StoredEvent

ATTEMPTS = 3
"""How often a command is decided before a concurrent writer's conflict reaches the caller."""
log = structlog.get_logger(__name__)


class Transaction(Protocol):
    """One attempt's view of the event store: its reads and the appends that commit together."""

    async def load(self, stream_id: str) -> list[StoredEvent]:
        """Every event of a stream, in order."""
        ...

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Event]) -> int:
        """Append after `expected_version`; returns the new version."""
        ...


T = TypeVar("T", bound=Transaction)
S = TypeVar("S")
R = TypeVar("R")
Begin = Callable[[], AbstractAsyncContextManager[T]]
"""Opens the transaction of one attempt; leaving it commits, an exception rolls it back."""


@dataclass(frozen=True)
class PostgresTransaction:
    """An attempt on PostgreSQL: the appends and the service's own writes share `conn`."""

    store: EventStore
    conn: Connection

    @property
    def schema(self) -> str:
        """The service's schema."""
        return self.store.schema

    async def load(self, stream_id: str) -> list[StoredEvent]:
        """The stream as this transaction sees it, read on its own connection (not a second)."""
        return await self.store.load(stream_id, conn=self.conn)

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Event]) -> int:
        """Append in this transaction."""
        return await self.store.append(stream_id, expected_version, events, conn=self.conn)


@dataclass
class MemoryTransaction:
    """An attempt on MemoryEventStore: appends wait in `pending` until the attempt ends."""

    store: MemoryEventStore
    pending: list[tuple[str, int, list[Event]]] = field(default_factory=list)

    async def load(self, stream_id: str) -> list[StoredEvent]:
        """The stream as committed (this attempt's own appends are not written yet)."""
        return await self.store.load(stream_id)

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Event]) -> int:
        """Keep the append for the commit."""
        self.pending.append((stream_id, expected_version, list(events)))
        return expected_version + len(events)

    async def commit(self) -> None:
        """Write every pending append, or none if a stream moved on (nothing awaits between)."""
        for stream_id, expected, _ in self.pending:
            current = await self.store.version(stream_id)
            if current != expected:
                raise ConcurrencyConflict(stream_id, expected, current)
        for stream_id, expected, events in self.pending:
            await self.store.append(stream_id, expected, events)


def on_postgres(store: EventStore) -> Begin[PostgresTransaction]:
    """Attempts in a transaction of the PostgreSQL store."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[PostgresTransaction]:
        async with store.transaction() as conn:
            yield PostgresTransaction(store, conn)

    return begin


def in_memory(store: MemoryEventStore) -> Begin[MemoryTransaction]:
    """Attempts on the in-memory store, each written all at once when it succeeds."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[MemoryTransaction]:
        tx = MemoryTransaction(store)
        yield tx
        await tx.commit()

    return begin


@dataclass(frozen=True)
class Loaded(Generic[S]):
    """The state a command is decided on and the version of each stream it was folded from."""

    state: S
    versions: Mapping[str, int]


@dataclass(frozen=True)
class Outcome(Generic[S]):
    """The state the command was decided on and the events it appended (none: nothing new)."""

    state: S
    events: list[Event]


async def _no_projection(tx: T, loaded: Loaded[S], events: Sequence[Event]) -> None:
    return None


@dataclass(frozen=True)
class Steps(Generic[T, S]):
    """What running one command takes besides the runner: how to load, decide and project."""

    load: Callable[[T], Awaitable[Loaded[S]]]
    decide: Callable[[T, S], Awaitable[Sequence[Event]]]
    stream_of: Callable[[Event], str]
    project: Callable[[T, Loaded[S], Sequence[Event]], Awaitable[None]] = _no_projection


async def run(
    begin: Begin[T], steps: Steps[T, S], *, what: str, attempts: int = ATTEMPTS
) -> Outcome[S]:
    """Run a command; a concurrent writer makes it decide again, `attempts` times in all."""

    async def attempt() -> Outcome[S]:
        async with begin() as tx:
            return await _attempt(tx, steps)

    return await retrying(attempt, what=what, attempts=attempts)


async def retrying(
    attempt: Callable[[], Awaitable[R]], *, what: str, attempts: int = ATTEMPTS
) -> R:
    """Await `attempt` again while a concurrent append conflicts; then the caller's Conflict."""
    for number in range(1, attempts + 1):
        try:
            return await attempt()
        except ConcurrencyConflict as exc:
            log.info("command.conflict", what=what, attempt=number, error=str(exc))
            conflict = exc
    raise Conflict(f"{what} is being changed by someone else; try again") from conflict


async def _attempt(tx: T, steps: Steps[T, S]) -> Outcome[S]:
    loaded = await steps.load(tx)
    events = list(await steps.decide(tx, loaded.state))
    if events:
        await append_all(tx, loaded.versions, events, steps.stream_of)
        await steps.project(tx, loaded, events)
    return Outcome(loaded.state, events)


async def append_all(
    tx: Transaction,
    versions: Mapping[str, int],
    events: Sequence[Event],
    stream_of: Callable[[Event], str],
) -> None:
    """Append each stream's events at the version it was loaded at (0: a new stream)."""
    by_stream: dict[str, list[Event]] = {}
    for event in events:
        by_stream.setdefault(stream_of(event), []).append(event)
    for stream, batch in by_stream.items():
        await tx.append(stream, versions.get(stream, 0), batch)
