"""The event store port's contract, run against the in-memory store and the real PostgreSQL."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from libs.events.calls import CallReceived
from libs.events.catalogue import encode
from libs.events.envelope import new_id
from libs.events.intake import ClientActivated
from libs.platform.memory_store import MemoryEventStore, OutboxEntry
from libs.platform.store import ConcurrencyConflict, EventStore, EventStorePort, WrongService
from tests.support.pipeline import call_received, calls_store

PREFIX = "tstore"


def _entry(event: CallReceived) -> OutboxEntry:
    """The outbox entry the calls store must queue for an event."""
    return OutboxEntry(
        event.event_id, event.type, f"{PREFIX}.calls.v1", str(event.client_id), encode(event)
    )


class EventStoreContract(ABC):
    """Behaviour every event store keeps; a subclass provides a calls `store` fixture."""

    @abstractmethod
    async def outbox(self, store: EventStorePort) -> list[OutboxEntry]:
        """What the store has queued for publishing, in queue order."""

    async def test_appended_events_read_back_in_order_with_versions(
        self, store: EventStorePort
    ) -> None:
        events = [call_received(new_id()) for _ in range(3)]
        assert await store.append("call-1", 0, events) == 3
        stored = await store.load("call-1")
        assert [s.event for s in stored] == events
        assert [(s.stream_id, s.stream_version) for s in stored] == [
            ("call-1", v) for v in (1, 2, 3)
        ]
        assert await store.version("call-1") == 3

    async def test_a_second_append_continues_the_stream(self, store: EventStorePort) -> None:
        first, second, third = (call_received(new_id()) for _ in range(3))
        assert await store.append("call-1", 0, [first]) == 1
        assert await store.append("call-1", 1, [second]) == 2
        assert await store.append("call-1", None, [third]) == 3
        assert [s.event for s in await store.load("call-1")] == [first, second, third]

    async def test_a_stale_expected_version_conflicts_and_writes_nothing(
        self, store: EventStorePort
    ) -> None:
        client = new_id()
        await store.append("call-2", 0, [call_received(client), call_received(client)])
        with pytest.raises(ConcurrencyConflict, match="expected version 1, found version 2") as exc:
            await store.append("call-2", 1, [call_received(client)])
        assert (exc.value.stream_id, exc.value.expected, exc.value.actual) == ("call-2", 1, 2)
        with pytest.raises(ConcurrencyConflict):
            await store.append("call-2", 5, [call_received(client)])
        assert await store.version("call-2") == 2
        assert len(await store.load("call-2")) == 2
        assert len(await self.outbox(store)) == 2

    async def test_a_new_stream_expected_at_a_later_version_conflicts(
        self, store: EventStorePort
    ) -> None:
        with pytest.raises(ConcurrencyConflict):
            await store.append("call-3", 1, [call_received(new_id())])
        assert await store.load("call-3") == []

    async def test_concurrent_appends_at_the_same_version_exactly_one_wins(
        self, store: EventStorePort
    ) -> None:
        attempts = [store.append("call-4", 0, [call_received(new_id())]) for _ in range(10)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["ConcurrencyConflict"] * 9 + ["int"]
        assert [r for r in results if isinstance(r, int)] == [1]
        assert [s.stream_version for s in await store.load("call-4")] == [1]
        assert len(await self.outbox(store)) == 1

    async def test_another_services_event_is_refused_and_nothing_is_written(
        self, store: EventStorePort
    ) -> None:
        foreign = ClientActivated(client_id=new_id(), occurred_at=datetime.now(UTC))
        with pytest.raises(WrongService, match="calls cannot append ClientActivated"):
            await store.append("call-5", 0, [call_received(foreign.client_id), foreign])
        assert await store.version("call-5") == 0
        assert await self.outbox(store) == []

    async def test_the_outbox_gets_one_entry_per_appended_event_in_order(
        self, store: EventStorePort
    ) -> None:
        first = [call_received(new_id()) for _ in range(2)]
        then = [call_received(new_id())]
        await store.append("call-6", 0, first)
        await store.append("call-7", 0, then)
        assert await self.outbox(store) == [_entry(e) for e in [*first, *then]]

    async def test_an_unknown_stream_is_empty_at_version_zero(self, store: EventStorePort) -> None:
        assert await store.load("call-unknown") == []
        assert await store.version("call-unknown") == 0
        assert await store.read_all() == []

    async def test_appending_no_events_checks_the_version_and_writes_nothing(
        self, store: EventStorePort
    ) -> None:
        await store.append("call-8", 0, [call_received(new_id())])
        assert await store.append("call-8", 1, []) == 1
        with pytest.raises(ConcurrencyConflict):
            await store.append("call-8", 0, [])
        assert await store.version("call-8") == 1
        assert len(await self.outbox(store)) == 1

    async def test_read_all_returns_every_stream_in_append_order_after_a_position(
        self, store: EventStorePort
    ) -> None:
        a, b, c = (call_received(new_id()) for _ in range(3))
        await store.append("call-9", 0, [a])
        await store.append("call-10", 0, [b])
        await store.append("call-9", 1, [c])
        log = await store.read_all()
        assert [(s.stream_id, s.stream_version, s.event) for s in log] == [
            ("call-9", 1, a),
            ("call-10", 1, b),
            ("call-9", 2, c),
        ]
        positions = [s.position for s in log]
        assert positions == sorted(set(positions))
        assert [s.event for s in await store.read_all(after=positions[0])] == [b, c]
        assert [s.event for s in await store.read_all(after=positions[0], limit=1)] == [b]


class TestMemoryEventStore(EventStoreContract):
    """The contract on the in-memory store."""

    @pytest.fixture
    def store(self) -> EventStorePort:
        """An empty in-memory calls store."""
        return MemoryEventStore(service="calls", prefix=PREFIX)

    async def outbox(self, store: EventStorePort) -> list[OutboxEntry]:
        """The store's outbox list."""
        assert isinstance(store, MemoryEventStore)
        return list(store.outbox)


@pytest.mark.infra
class TestPostgresEventStore(EventStoreContract):
    """The contract on the real PostgreSQL, each test in a fresh schema."""

    @pytest.fixture
    async def store(self, db: asyncpg.Pool) -> EventStorePort:
        """A migrated calls store in a schema of its own."""
        return await calls_store(db, f"s{uuid4().hex[:10]}", PREFIX)

    async def outbox(self, store: EventStorePort) -> list[OutboxEntry]:
        """The rows of the schema's outbox table, in insertion order."""
        assert isinstance(store, EventStore)
        rows = await store.pool.fetch(
            f"SELECT event_id, event_type, topic, key, value FROM {store.schema}.outbox ORDER BY id"
        )
        return [OutboxEntry(*row.values()) for row in rows]
