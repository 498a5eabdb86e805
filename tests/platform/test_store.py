"""The event store on the real PostgreSQL: versions, conflicts, outbox, migrations."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest

from libs.events.envelope import new_id
from libs.platform.db import Migration, migrate
from libs.platform.store import (
    PLUMBING_MIGRATIONS,
    ConcurrencyConflict,
    EventStore,
    StreamAppend,
    WrongService,
)
from tests.support.pipeline import call_received, calls_store

pytestmark = [pytest.mark.infra]


@pytest.fixture
async def store(db: asyncpg.Pool) -> EventStore:
    """A migrated calls event store in a schema of its own."""
    return await calls_store(db, f"s{uuid4().hex[:10]}", "tstore")


async def test_concurrent_appends_at_the_same_version_one_wins_the_others_conflict(
    store: EventStore,
) -> None:
    client = new_id()
    attempts = [store.append("call-1", 0, [call_received(client)]) for _ in range(10)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ConcurrencyConflict"] * 9 + ["int"]
    stored = await store.load("call-1")
    assert [s.stream_version for s in stored] == [1]
    winner = next(r for r in results if isinstance(r, int))
    assert winner == 1


async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(store: EventStore) -> None:
    client = new_id()
    assert await store.append("call-2", 0, [call_received(client), call_received(client)]) == 2
    with pytest.raises(ConcurrencyConflict, match="expected version 1, found version 2"):
        await store.append("call-2", 1, [call_received(client)])
    with pytest.raises(ConcurrencyConflict):
        await store.append("call-2", 5, [call_received(client)])
    assert await store.version("call-2") == 2
    outbox = await store.pool.fetchval(f"SELECT count(*) FROM {store.schema}.outbox")
    assert outbox == 2


async def test_appended_events_load_back_equal_and_go_to_the_outbox_keyed_by_client(
    store: EventStore,
) -> None:
    events = [call_received(new_id()) for _ in range(3)]
    await store.append("call-3", 0, events)
    assert [s.event for s in await store.load("call-3")] == events
    rows = await store.pool.fetch(f"SELECT topic, key, event_type FROM {store.schema}.outbox")
    assert {(r["topic"], r["key"], r["event_type"]) for r in rows} == {
        ("tstore.calls.v1", str(e.client_id), "CallReceived") for e in events
    }


async def test_many_streams_in_one_append_each_get_their_versions_in_order(
    store: EventStore,
) -> None:
    client = new_id()
    await store.append("call-m1", 0, [call_received(client)])
    first = [call_received(client), call_received(client)]
    second = [call_received(client)]
    versions = await store.append_many(
        [StreamAppend("call-m1", 1, first), StreamAppend("call-m2", 0, second),
         StreamAppend("call-m3", None, []), StreamAppend("call-m4", None, second[:0] or
                                                        [call_received(client)])]
    )  # fmt: skip
    assert versions == [3, 1, 0, 1]
    assert [s.event for s in await store.load("call-m1")][1:] == first
    assert [s.stream_version for s in await store.load("call-m1")] == [1, 2, 3]
    assert [s.event for s in await store.load("call-m2")] == second
    outbox = await store.pool.fetch(f"SELECT event_id FROM {store.schema}.outbox ORDER BY id")
    expected = [e.event_id for e in await _all(store)]
    assert [r["event_id"] for r in outbox] == expected  # the outbox keeps the append order


async def _all(store: EventStore) -> list[object]:
    return [s.event for s in await store.read_all(0, 100)]


async def test_one_stream_behind_in_a_many_append_writes_nothing_to_any(
    store: EventStore,
) -> None:
    client = new_id()
    await store.append("call-b1", 0, [call_received(client), call_received(client)])
    with pytest.raises(ConcurrencyConflict, match="call-b1: expected version 1, found version 2"):
        await store.append_many(
            [StreamAppend("call-b0", 0, [call_received(client)]),
             StreamAppend("call-b1", 1, [call_received(client)])]
        )  # fmt: skip
    assert await store.version("call-b0") == 0
    assert await store.version("call-b1") == 2
    assert await store.pool.fetchval(f"SELECT count(*) FROM {store.schema}.outbox") == 2
    with pytest.raises(ValueError, match="more than once"):
        await store.append_many(
            [StreamAppend("call-b2", 0, [call_received(client)]),
             StreamAppend("call-b2", 1, [call_received(client)])]
        )  # fmt: skip
    assert await store.version("call-b2") == 0


async def test_concurrent_many_appends_to_a_shared_stream_one_wins(store: EventStore) -> None:
    client = new_id()
    attempts = [
        store.append_many([StreamAppend(f"call-own-{n}", 0, [call_received(client)]),
                           StreamAppend("call-shared", 0, [call_received(client)])])
        for n in range(6)
    ]  # fmt: skip
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ConcurrencyConflict"] * 5 + ["list"]
    assert await store.version("call-shared") == 1
    written = [n for n in range(6) if await store.version(f"call-own-{n}") == 1]
    assert len(written) == 1  # the losers wrote none of their own streams either


async def test_a_service_cannot_append_another_services_event(db: asyncpg.Pool) -> None:
    store = await calls_store(db, f"s{uuid4().hex[:10]}", "tstore")
    intake_store = EventStore(db, schema=store.schema, service="intake", prefix="tstore")
    with pytest.raises(WrongService):
        await intake_store.append("call-4", 0, [call_received(new_id())])
    assert await store.version("call-4") == 0


async def test_migrations_run_once_even_when_started_concurrently(db: asyncpg.Pool) -> None:
    schema = f"s{uuid4().hex[:10]}"
    extra = Migration("0100_extra", "CREATE TABLE {schema}.extra (id int)")

    async def run() -> int:
        async with db.acquire() as conn:
            return await migrate(conn, schema, [*PLUMBING_MIGRATIONS, extra])

    every = len(PLUMBING_MIGRATIONS) + 1
    assert sorted(await asyncio.gather(run(), run(), run())) == [0, 0, every]
