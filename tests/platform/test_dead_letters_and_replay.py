"""Poison messages go to the dead-letter topic; a full replay rebuilds the same projection."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from libs.events.catalogue import dead_letter_topic
from libs.events.envelope import new_id
from libs.platform import kafka
from libs.platform.clock import SystemClock
from libs.platform.consumer import DeadLetters, MessageProcessor
from libs.platform.replay import ReplayReport, read_log, rebuild_projection
from libs.platform.store import EventStore
from tests.conftest import World
from tests.support.apps import (
    POISON_CALLER,
    projection_reset,
    projection_subscription,
)
from tests.support.pipeline import (
    append_calls,
    call_received,
    calls_store,
    reached,
    seen,
    start_pair,
    wait_until,
)

pytestmark = [pytest.mark.infra]


async def test_undecodable_and_failing_messages_are_dead_lettered_and_the_consumer_goes_on(
    world: World, db: asyncpg.Pool
) -> None:
    start_pair(world)
    producer = kafka.idempotent_producer(world.infra.bootstrap, client_id="test-garbage")
    await producer.start()
    try:
        await producer.send_and_wait(world.topic("calls"), b"{not json", key=b"some-client")
    finally:
        await producer.stop()
    store = await calls_store(db, world.schema("calls"), world.prefix)
    poison = call_received(new_id(), caller=POISON_CALLER)
    await store.append(f"call-{poison.call_id}", 0, [poison])
    good = await append_calls(store, [new_id(), new_id()], per_client=10)
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 20), what="the good events after the poison")
    assert {r["event_id"] for r in await seen(db, schema)} == {e.event_id for e in good}
    dlq = dead_letter_topic("billing", world.prefix)

    async def both_dead_lettered() -> bool:
        return len(await _read_all(world, dlq)) >= 2

    await wait_until(both_dead_lettered, what="the two poison messages in the dead-letter topic")
    dead = await _read_all(world, dlq)
    errors = sorted(dict(r.headers)["error"].decode().split(":")[0] for r in dead)
    assert errors == ["handler failed", "undecodable"]
    assert {r.value for r in dead} >= {b"{not json"}
    assert all(dict(r.headers)["consumer"] == f"{world.prefix}-counter".encode() for r in dead)


async def _read_all(world: World, topic: str) -> list[ConsumerRecord]:
    consumer = kafka.plain_consumer(world.infra.bootstrap, client_id="test-reader")
    await consumer.start()
    try:
        return [record async for record in read_log(consumer, [topic])]
    finally:
        await consumer.stop()


async def test_full_replay_rebuilds_the_projection_of_the_live_run(
    world: World, db: asyncpg.Pool
) -> None:
    _, projection = start_pair(world)
    store = await calls_store(db, world.schema("calls"), world.prefix)
    await append_calls(store, [new_id() for _ in range(4)], per_client=50)
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 200), what="the live run")
    projection.stop()
    live = [tuple(r) for r in await seen(db, schema)]
    report = await _replay(world, db, schema)
    assert (report.records, report.handled) == (200, 200)
    assert [tuple(r) for r in await seen(db, schema)] == live


async def _replay(world: World, db: asyncpg.Pool, schema: str) -> ReplayReport:
    settings = world.settings("billing", "proj")
    store = EventStore(db, schema=schema, service="billing", prefix=world.prefix)
    processor = MessageProcessor(
        projection_subscription(settings),
        store,
        DeadLetters(None, dead_letter_topic("billing", world.prefix)),
        now=SystemClock().now,
        replay=True,
    )
    consumer = kafka.plain_consumer(world.infra.bootstrap, client_id="test-replay")
    await consumer.start()
    try:
        return await rebuild_projection(consumer, processor, projection_reset(schema))
    finally:
        await consumer.stop()
