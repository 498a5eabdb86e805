"""A BatchHandler gets each run of consecutive records of a batch in one call, in log order."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from libs.events.catalogue import encode
from libs.events.envelope import Event
from libs.platform.clock import SystemClock
from libs.platform.consumer import (
    BatchHandler,
    DeadLetters,
    HandlerContext,
    MessageProcessor,
    Subscription,
)
from tests.support.builders import call_ended, call_received
from tests.support.pipeline import calls_store

pytestmark = [pytest.mark.infra]
TOPIC = "tbatch.calls.v1"


def record(event: Event, offset: int) -> ConsumerRecord:
    value = encode(event)
    key = str(event.client_id).encode()
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value),
                          [("event_id", str(event.event_id).encode())])  # fmt: skip


async def processor_with(
    db: asyncpg.Pool, applied: list[tuple[str, list[object]]], fail_runs_longer_than: int = 0
) -> MessageProcessor:
    store = await calls_store(db, f"s{uuid4().hex[:10]}", "tbatch")

    async def many(events: Sequence[Event], ctx: HandlerContext) -> None:
        if fail_runs_longer_than and len(events) > fail_runs_longer_than:
            raise RuntimeError("this run is too long for the test's handler")
        await ctx.conn.execute("SELECT 1")
        applied.append(("run", [e.event_id for e in events]))

    async def one(event: Event, _ctx: HandlerContext) -> None:
        applied.append(("one", [event.event_id]))

    handlers = {"CallReceived": BatchHandler(many), "CallEnded": one}
    sub = Subscription("batch-test", (TOPIC,), handlers)
    dead = DeadLetters(None, "tbatch.dlq")
    return MessageProcessor(sub, store, dead, now=SystemClock().now, retry_base=0.01)


async def test_runs_of_consecutive_records_go_together_and_order_is_kept(
    db: asyncpg.Pool,
) -> None:
    applied: list[tuple[str, list[object]]] = []
    processor = await processor_with(db, applied)
    client = uuid4()
    first, second, third = (call_received(client) for _ in range(3))
    ended = call_ended(first)
    records = [record(e, n) for n, e in enumerate([first, second, ended, third, first])]
    outcomes = await processor.process_batch(records)
    assert outcomes == ["handled", "handled", "handled", "handled", "duplicate"]
    assert applied == [
        ("run", [first.event_id, second.event_id]),
        ("one", [ended.event_id]),
        ("run", [third.event_id]),
    ]
    applied.clear()
    assert await processor.process_batch(records) == ["duplicate"] * 5
    assert applied == []


async def test_a_run_that_fails_is_applied_record_by_record(db: asyncpg.Pool) -> None:
    applied: list[tuple[str, list[object]]] = []
    processor = await processor_with(db, applied, fail_runs_longer_than=1)
    client = uuid4()
    calls = [call_received(client) for _ in range(3)]
    outcomes = await processor.process_batch([record(e, n) for n, e in enumerate(calls)])
    assert outcomes == ["handled"] * 3
    assert applied == [("run", [e.event_id]) for e in calls]
