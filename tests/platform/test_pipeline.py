"""Events travel store -> outbox relay -> Kafka -> consumer, once, in order, surviving crashes.

Every test runs real service processes against the session's real broker and database.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from libs.events.envelope import new_id
from tests.conftest import World
from tests.support.pipeline import (
    PROJECTION,
    RELAY,
    append_calls,
    append_in_one_transaction,
    assert_each_applied_once_in_order,
    calls_store,
    metric_at_least,
    metric_value,
    reached,
    start_pair,
    wait_until,
)

pytestmark = [pytest.mark.infra]


async def test_event_appended_by_one_process_is_consumed_once_by_another_in_order(
    world: World, db: asyncpg.Pool
) -> None:
    start_pair(world)
    store = await calls_store(db, world.schema("calls"), world.prefix)
    clients = [new_id() for _ in range(5)]
    appended = await append_calls(store, clients, per_client=40)
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 200), what="200 events in the projection")
    await assert_each_applied_once_in_order(db, schema, appended)


async def test_consumer_killed_between_db_commit_and_offset_commit_applies_nothing_twice(
    world: World, db: asyncpg.Pool
) -> None:
    _, projection = start_pair(world, FRONTDESK_CRASH_AT="consumer.after_db_commit:3")
    store = await calls_store(db, world.schema("calls"), world.prefix)
    appended = await append_calls(store, [new_id(), new_id()], per_client=100)
    assert projection.wait_exit(90) == -9
    projection.start()
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 200), what="all events after the restart")
    await assert_each_applied_once_in_order(db, schema, appended)
    duplicates = metric_value(
        projection.url, "frontdesk_events_consumed_total", outcome="duplicate"
    )
    assert duplicates >= 1, "the restarted consumer should have been redelivered what it had seen"


async def test_relay_killed_after_publishing_before_marking_loses_and_duplicates_nothing(
    world: World, db: asyncpg.Pool
) -> None:
    projection = world.process(PROJECTION, "billing", "proj")
    projection.start()
    relay = world.process(RELAY, "calls", "calls")
    relay.start(extra_env={"FRONTDESK_CRASH_AT": "relay.after_send:1"})
    store = await calls_store(db, world.schema("calls"), world.prefix)
    appended = await append_in_one_transaction(store, 120)
    assert relay.wait_exit(60) == -9
    backlog = await db.fetchval(f"SELECT count(*) FROM {world.schema('calls')}.outbox")
    assert backlog == 120, "the killed relay must not have marked anything as published"
    relay.start()
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 120), what="all 120 events")
    await wait_until(
        lambda: metric_at_least(projection.url, "duplicate", 120), what="the republished batch"
    )
    await assert_each_applied_once_in_order(db, schema, appended)


async def test_broker_stopped_and_started_during_publishing_loses_nothing(
    world: World, db: asyncpg.Pool
) -> None:
    kafka = world.infra.kafka
    if kafka is None:
        pytest.skip("the broker is external: this test needs to stop and start it")
    start_pair(world)
    store = await calls_store(db, world.schema("calls"), world.prefix)
    clients = [new_id() for _ in range(3)]
    appended = await append_calls(store, clients, per_client=50)
    await kafka.stop()
    appended += await append_calls(store, clients, per_client=50)  # while the broker is down
    await asyncio.sleep(2)
    await kafka.start()
    appended += await append_calls(store, clients, per_client=50)
    schema = world.schema("proj")
    await wait_until(lambda: reached(db, schema, 450), within=180, what="all 450 events")
    await assert_each_applied_once_in_order(db, schema, appended)
