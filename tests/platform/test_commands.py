"""The shared command runner on the in-memory store: append, project, retry, give up."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import pytest

from libs.errors import Conflict, Rejected
from libs.events import Event, new_id
from libs.platform.commands import ATTEMPTS, Loaded, MemoryTransaction, Steps, in_memory, run
from libs.platform.memory_store import MemoryEventStore
from tests.support.builders import call_received

CLIENT = new_id()


class Tally:
    """A command that adds one event to each of its streams, decided on how many they hold."""

    def __init__(self, store: MemoryEventStore, *streams: str) -> None:
        self.store, self.streams = store, streams or ("a",)
        self.decided: list[int] = []
        self.projected: list[list[Event]] = []
        self.interference: list[str] = []
        """Streams a concurrent writer appends to while an attempt decides, one per attempt."""
        self.refusal: Exception | None = None
        self._stream_of: dict[UUID, str] = {}

    def steps(self) -> Steps[MemoryTransaction, int]:
        """The command's steps for the runner."""
        return Steps(self.load, self.decide, self.stream_of, self.project)

    async def load(self, tx: MemoryTransaction) -> Loaded[int]:
        versions = {stream: len(await tx.load(stream)) for stream in self.streams}
        return Loaded(sum(versions.values()), versions)

    async def decide(self, tx: MemoryTransaction, count: int) -> list[Event]:
        self.decided.append(count)
        if self.interference:
            await self.store.append(self.interference.pop(0), None, [call_received(CLIENT)])
        if self.refusal is not None:
            raise self.refusal
        events = [call_received(CLIENT) for _ in self.streams]
        self._stream_of.update(zip((e.event_id for e in events), self.streams, strict=True))
        return events

    def stream_of(self, event: Event) -> str:
        return self._stream_of[event.event_id]

    async def project(
        self, tx: MemoryTransaction, loaded: Loaded[int], events: Sequence[Event]
    ) -> None:
        self.projected.append(list(events))


@pytest.fixture
def store() -> MemoryEventStore:
    """An empty in-memory calls store."""
    return MemoryEventStore(service="calls")


async def lengths(store: MemoryEventStore, *streams: str) -> list[int]:
    """How many events each stream holds."""
    return [await store.version(stream) for stream in streams]


async def test_a_command_appends_at_the_loaded_versions_and_projects_what_it_appended(
    store: MemoryEventStore,
) -> None:
    await store.append("b", 0, [call_received(CLIENT)])
    tally = Tally(store, "a", "b")
    outcome = await run(in_memory(store), tally.steps(), what="the tally")
    assert outcome.state == 1
    assert await lengths(store, "a", "b") == [1, 2]
    assert tally.projected == [outcome.events]
    assert len(store.outbox) == 3


async def test_a_conflict_is_decided_again_on_the_fresh_state(store: MemoryEventStore) -> None:
    tally = Tally(store)
    tally.interference = ["a"]
    outcome = await run(in_memory(store), tally.steps(), what="the tally")
    assert tally.decided == [0, 1], "the second attempt saw the concurrent writer's event"
    assert outcome.state == 1
    assert await lengths(store, "a") == [2]
    assert len(tally.projected) == 2, "projected in both attempts; the first rolled back"


async def test_a_conflict_on_one_stream_writes_none_of_the_attempts_streams(
    store: MemoryEventStore,
) -> None:
    tally = Tally(store, "a", "b")
    tally.interference = ["b"]
    await run(in_memory(store), tally.steps(), what="the tally")
    assert await lengths(store, "a", "b") == [1, 2], "stream a got one event, not two"


async def test_a_conflict_that_persists_becomes_a_conflict_for_the_caller(
    store: MemoryEventStore,
) -> None:
    tally = Tally(store)
    tally.interference = ["a"] * ATTEMPTS
    with pytest.raises(Conflict, match="the tally is being changed by someone else; try again"):
        await run(in_memory(store), tally.steps(), what="the tally")
    assert len(tally.decided) == ATTEMPTS
    assert await lengths(store, "a") == [ATTEMPTS], "only the concurrent writer's events"


async def test_a_refusal_is_not_retried_and_writes_nothing(store: MemoryEventStore) -> None:
    tally = Tally(store)
    tally.refusal = Rejected("no")
    with pytest.raises(Rejected, match="no"):
        await run(in_memory(store), tally.steps(), what="the tally")
    assert tally.decided == [0]
    assert await lengths(store, "a") == [0]
    assert tally.projected == []


async def test_nothing_to_append_projects_nothing(store: MemoryEventStore) -> None:
    tally = Tally(store)
    tally.streams = ()
    outcome = await run(in_memory(store), tally.steps(), what="the tally")
    assert outcome.events == []
    assert tally.projected == []
    assert store.outbox == []
