"""Throughput of append -> outbox relay -> Kafka -> effectively-once consumer.

Baseline, measured in the same run on the same broker: the same number of messages produced
with the same idempotent producer (acks=all) and read back by a plain consumer, with no
database. The pipeline adds the event store, the outbox, the relay's bookkeeping and one
inbox transaction per consumed event. The ratio is pipeline / baseline.

    ./run python benchmarks/pipeline_throughput.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import asyncpg

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.postgres import LocalPostgres
from libs.devstack.topics import ensure_topics
from libs.events.calls import CallReceived
from libs.events.catalogue import dead_letter_topic, encode, topic_for
from libs.events.envelope import Event, new_id
from libs.platform import kafka
from libs.platform.clock import SystemClock
from libs.platform.consumer import (
    ConsumerRunner,
    DeadLetters,
    HandlerContext,
    MessageProcessor,
    Subscription,
)
from libs.platform.db import Migration, create_pool, migrate
from libs.platform.relay import OutboxRelay
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore

COUNTED = Migration("bench_0001", "CREATE TABLE {schema}.counted (event_id uuid PRIMARY KEY)")
CLIENTS = [new_id() for _ in range(50)]


def make_event(i: int) -> CallReceived:
    """The i-th call of the benchmark, spread over 50 clients."""
    now = SystemClock().now()
    return CallReceived(
        client_id=CLIENTS[i % len(CLIENTS)],
        occurred_at=now,
        call_id=new_id(),
        dialled_number="+31851234567",
        caller_number="+31612345678",
        received_at=now,
        book_version=1,
        office_open=True,
    )


async def baseline(bootstrap: str, topic: str, n: int) -> float:
    """Seconds to produce n messages (acks=all, idempotent) and consume them back."""
    values = [encode(make_event(i)) for i in range(n)]
    started = time.perf_counter()
    producer = kafka.idempotent_producer(bootstrap, client_id="bench-baseline")
    await producer.start()
    futures = [
        await producer.send(topic, v, key=str(i % 50).encode()) for i, v in enumerate(values)
    ]
    await asyncio.gather(*futures)
    await producer.stop()
    consumer = kafka.group_consumer(bootstrap, topic, group=f"bench-{uuid4().hex[:6]}")
    await consumer.start()
    seen = 0
    while seen < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        seen += sum(len(records) for records in batch.values())
    await consumer.stop()
    return time.perf_counter() - started


async def count(event: Event, ctx: HandlerContext) -> None:
    """The benchmark projection: one row per event."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.counted (event_id) VALUES ($1)", event.event_id
    )


async def pipeline(bootstrap: str, dsn: str, prefix: str, n: int, batch: int) -> dict[str, float]:
    """Seconds for n events through the pipeline, for appending, and to drain n more."""
    pool = await create_pool(dsn, max_size=8)
    async with pool.acquire() as conn:
        await migrate(conn, f"{prefix}_calls", PLUMBING_MIGRATIONS)
        await migrate(conn, f"{prefix}_proj", [*PLUMBING_MIGRATIONS, COUNTED])
    store = EventStore(pool, schema=f"{prefix}_calls", service="calls", prefix=prefix)
    proj_store = EventStore(pool, schema=f"{prefix}_proj", service="billing", prefix=prefix)
    relay = OutboxRelay(
        dsn,
        schema=store.schema,
        service="calls",
        producer_factory=lambda: kafka.idempotent_producer(bootstrap, client_id="bench-relay"),
        batch_size=1000,
        poll_seconds=0.2,
    )
    sub = Subscription("bench-counter", (topic_for("calls", prefix),), {"CallReceived": count})
    processor = MessageProcessor(
        sub,
        proj_store,
        DeadLetters(None, dead_letter_topic("billing", prefix)),
        now=SystemClock().now,
    )
    runner = ConsumerRunner(
        processor, lambda: kafka.group_consumer(bootstrap, *sub.topics, group=f"{prefix}-bench")
    )
    counted = f"{proj_store.schema}.counted"
    started = time.perf_counter()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(runner.run(stop))]
    appended_in = await append_all(store, n, batch)
    await wait_for_count(pool, counted, n)
    total = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    # Second phase: a backlog of n events, then relay and consumer drain it without appends.
    await append_all(store, n, batch)
    started = time.perf_counter()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(runner.run(stop))]
    await wait_for_count(pool, counted, 2 * n)
    drain = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    await pool.close()
    return {"total": total, "append": appended_in, "drain": drain}


async def wait_for_count(pool: asyncpg.Pool, table: str, n: int) -> None:
    """Poll until the table holds n rows (the consumer runs in the same process)."""
    # Polling the database on purpose: the count is what the consumer committed.
    while await pool.fetchval(f"SELECT count(*) FROM {table}") < n:  # noqa: ASYNC110
        await asyncio.sleep(0.25)


async def append_all(store: EventStore, n: int, batch: int) -> float:
    """Append n events, `batch` single-event streams per transaction; returns seconds."""
    started = time.perf_counter()
    for first in range(0, n, batch):
        async with store.transaction() as conn:
            for i in range(first, min(first + batch, n)):
                event = make_event(i)
                await store.append(f"call-{event.call_id}", 0, [event], conn=conn)
    return time.perf_counter() - started


async def run(n: int, batch: int, home: Path) -> None:
    """Start (or use) the infrastructure, measure both, print the report."""
    postgres = LocalPostgres(home / "pg")
    dsn = os.environ.get("DATABASE_URL") or postgres.start()
    broker = LocalKafka(
        home / "kafka", port=39092, controller_port=39093, cache_dir=default_cache_dir()
    )
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not bootstrap:
        print(f"broker started in {await broker.start():.1f} s")
        bootstrap = broker.bootstrap_servers
    try:
        prefix = f"bench{uuid4().hex[:6]}"
        await ensure_topics(bootstrap, [topic_for("calls", prefix), f"{prefix}.baseline"])
        base = await baseline(bootstrap, f"{prefix}.baseline", n)
        result = await pipeline(bootstrap, dsn, prefix, n, batch)
    finally:
        await broker.stop()  # both stop only what this run started
        postgres.stop()
    report(n, base, result)


def report(n: int, base: float, result: dict[str, float]) -> None:
    """Print events per second and the ratio to the baseline."""
    total = result["total"]
    print(f"events: {n}")
    print(f"baseline  produce+consume, no database : {n / base:10.0f} events/s ({base:.1f} s)")
    print(f"pipeline  append stage alone           : {n / result['append']:10.0f} events/s")
    print(f"pipeline  append->relay->consume       : {n / total:10.0f} events/s ({total:.1f} s)")
    drain = result["drain"]
    print(f"pipeline  relay->consume of a backlog  : {n / drain:10.0f} events/s ({drain:.1f} s)")
    print(f"ratio pipeline / baseline              : {base / total:10.3f}")
    print(f"ratio backlog drain / baseline         : {base / drain:10.3f}")


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--append-batch", type=int, default=100, help="events per transaction")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
        asyncio.run(run(args.events, args.append_batch, Path(home)))


if __name__ == "__main__":
    main()
