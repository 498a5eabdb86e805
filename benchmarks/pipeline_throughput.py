"""Throughput of append -> outbox relay -> Kafka -> effectively-once consumer.

Baseline, measured in the same run on the same broker: the same number of messages produced
with the same idempotent producer (acks=all) and read back by a plain consumer, with no
database. The pipeline adds the event store, the outbox, the relay's bookkeeping and the
consumer's inbox transaction (one per fetched batch). The ratio is pipeline / baseline.
Appends and the relay run in this process, as in a service; the consumer runs in a process
of its own, as another service's consumer does.

It runs twice: with the projection written one statement per event, and with a
BatchHandler writing each run of events in one statement. Then, unless `--rate 0`, events
are appended at a constant rate and each one's time from its append's commit to the commit of
the consumer transaction that applied it is reported (p50, p99, max).

    ./run python benchmarks/pipeline_throughput.py --events 100000 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID, uuid4

from libs.devstack.kafka import broker_for
from libs.devstack.postgres import LocalPostgres
from libs.devstack.topics import ensure_topics
from libs.events.calls import CallReceived
from libs.events.catalogue import dead_letter_topic, encode, topic_for
from libs.events.envelope import Event, new_id
from libs.platform import kafka
from libs.platform.clock import SystemClock
from libs.platform.consumer import (
    BatchHandler,
    ConsumerRunner,
    DeadLetters,
    HandlerContext,
    MessageProcessor,
    Subscription,
)
from libs.platform.db import Migration, create_pool, migrate
from libs.platform.relay import OutboxRelay
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore, StreamAppend

Applied: TypeAlias = "Queue[tuple[list[bytes], float]]"
"""What the consumer's process tells: event ids it committed and when (time.monotonic)."""
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
    """The benchmark projection, one event at a time: one row per event."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.counted (event_id) VALUES ($1)", event.event_id
    )


async def count_many(events: Sequence[Event], ctx: HandlerContext) -> None:
    """The same projection for a run of events: one multi-row statement."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.counted (event_id) SELECT * FROM unnest($1::uuid[])",
        [e.event_id for e in events],
    )


def consume(bootstrap: str, dsn: str, prefix: str, batched: bool, out: Applied, stop: Any) -> None:
    """The consumer's process (another service's, in production): applies the topic to the
    projection and puts (event ids, monotonic time) on `out` after each commit."""
    asyncio.run(_consume(bootstrap, dsn, prefix, batched, out, stop))


async def _consume(
    bootstrap: str, dsn: str, prefix: str, batched: bool, out: Applied, stop_flag: Any
) -> None:
    pool = await create_pool(dsn, max_size=4)
    proj = EventStore(pool, schema=f"{prefix}_proj", service="billing", prefix=prefix)

    def applied(events: Sequence[Event]) -> None:
        out.put(([e.event_id.bytes for e in events], time.monotonic()))

    async def one(event: Event, ctx: HandlerContext) -> None:
        await count(event, ctx)
        ctx.after_commit(lambda: applied([event]))

    async def many(events: Sequence[Event], ctx: HandlerContext) -> None:
        await count_many(events, ctx)
        ctx.after_commit(lambda: applied(events))

    handler = BatchHandler(many) if batched else one
    sub = Subscription("bench-counter", (topic_for("calls", prefix),), {"CallReceived": handler})
    processor = MessageProcessor(
        sub, proj, DeadLetters(None, dead_letter_topic("billing", prefix)), now=SystemClock().now
    )
    runner = ConsumerRunner(
        processor, lambda: kafka.group_consumer(bootstrap, *sub.topics, group=f"{prefix}-bench")
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    while not stop_flag.is_set():
        if runner.running:
            out.put(([], -1.0))  # running: the parent may start its clock
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await pool.close()


class Pipeline:
    """An event store and its relay in this process, a consumer of its topic in another."""

    def __init__(self, bootstrap: str, dsn: str, prefix: str, *, batched: bool) -> None:
        self.bootstrap, self.dsn, self.prefix, self.batched = bootstrap, dsn, prefix, batched
        self.applied_at: dict[UUID, float] = {}
        self.consumer_running = threading.Event()

    async def __aenter__(self) -> Pipeline:
        prefix = self.prefix
        self.pool = await create_pool(self.dsn, max_size=8)
        async with self.pool.acquire() as conn:
            await migrate(conn, f"{prefix}_calls", PLUMBING_MIGRATIONS)
            await migrate(conn, f"{prefix}_proj", [*PLUMBING_MIGRATIONS, COUNTED])
        self.store = EventStore(self.pool, schema=f"{prefix}_calls", service="calls",
                                prefix=prefix)  # fmt: skip
        self.counted = f"{prefix}_proj.counted"
        self.relay = OutboxRelay(
            self.dsn,
            schema=self.store.schema,
            service="calls",
            producer_factory=lambda: kafka.idempotent_producer(self.bootstrap,
                                                               client_id="bench-relay"),
            batch_size=1000,
            poll_seconds=0.2,
        )  # fmt: skip
        spawn = multiprocessing.get_context("spawn")
        self.queue: Applied = spawn.Queue()
        self.stop_consumer = spawn.Event()
        args = (self.bootstrap, self.dsn, prefix, self.batched, self.queue, self.stop_consumer)
        self.consumer = spawn.Process(target=consume, args=args)
        self.consumer.start()
        self.collector = threading.Thread(target=self._collect, daemon=True)
        self.collector.start()
        await asyncio.to_thread(self.consumer_running.wait, 120)
        return self

    def _collect(self) -> None:
        while True:
            ids, at = self.queue.get()
            if at < 0:
                self.consumer_running.set()
                continue
            for raw in ids:
                self.applied_at[UUID(bytes=raw)] = at

    async def __aexit__(self, *_: object) -> None:
        self.stop_consumer.set()
        await asyncio.to_thread(self.consumer.join, 30)
        await self.pool.close()

    def start_relay(self) -> tuple[asyncio.Event, asyncio.Task[None]]:
        """Start the relay (the consumer runs all along)."""
        stop = asyncio.Event()
        return stop, asyncio.create_task(self.relay.run(stop))

    async def wait_for(self, n: int) -> None:
        """Until the consumer committed n events in all."""
        while len(self.applied_at) < n:  # noqa: ASYNC110 (told through the queue)
            await asyncio.sleep(0.01)


async def throughput(pipe: Pipeline, n: int, batch: int) -> dict[str, float]:
    """Seconds for n events through the pipeline, for appending, and to drain n more."""
    started = time.monotonic()
    stop, relay = pipe.start_relay()
    appended_in = await append_all(pipe.store, n, batch)
    await pipe.wait_for(n)
    total = time.monotonic() - started
    stop.set()
    await relay
    # Second phase: a backlog of n events, then relay and consumer drain it without appends.
    await append_all(pipe.store, n, batch)
    started = time.monotonic()
    stop, relay = pipe.start_relay()
    await pipe.wait_for(2 * n)
    drain = time.monotonic() - started
    stop.set()
    await relay
    rows = await pipe.pool.fetchval(f"SELECT count(*) FROM {pipe.counted}")
    assert rows == 2 * n, f"the projection holds {rows} rows, not {2 * n}"
    return {"total": total, "append": appended_in, "drain": drain}


async def latency(pipe: Pipeline, rate: int, seconds: float) -> list[float]:
    """Append at a constant rate (a tick every 10 ms); each event's seconds from the commit
    of its append to the commit of the consumer's transaction that applied it."""
    stop, relay = pipe.start_relay()
    await asyncio.sleep(1)  # the relay takes its lock
    committed: dict[UUID, float] = {}
    before = len(pipe.applied_at)
    per_tick = max(1, rate // 100)
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) - sent
        if due > 0:
            events = [make_event(sent + i) for i in range(min(due, 10 * per_tick))]
            await pipe.store.append_many([StreamAppend(f"call-{e.call_id}", 0, [e])
                                          for e in events])  # fmt: skip
            at = time.monotonic()
            committed.update((e.event_id, at) for e in events)
            sent += len(events)
        await asyncio.sleep(max(0.0, started + (sent + per_tick) / rate - time.monotonic()))
    await pipe.wait_for(before + len(committed))
    stop.set()
    await relay
    return sorted(pipe.applied_at[i] - at for i, at in committed.items())


async def append_all(store: EventStore, n: int, batch: int) -> float:
    """Append n events, `batch` new single-event streams per statement; returns seconds."""
    started = time.monotonic()
    for first in range(0, n, batch):
        events = [make_event(i) for i in range(first, min(first + batch, n))]
        await store.append_many([StreamAppend(f"call-{e.call_id}", 0, [e]) for e in events])
    return time.monotonic() - started


async def run(args: argparse.Namespace, home: Path) -> None:
    """Start (or use) the infrastructure, measure, print the report."""
    postgres = LocalPostgres(home / "pg")
    dsn = os.environ.get("DATABASE_URL") or postgres.start()
    try:
        async with broker_for(home) as bootstrap:
            await measure(args, dsn, bootstrap)
    finally:
        postgres.stop()  # stops only what this run started


async def measure(args: argparse.Namespace, dsn: str, bootstrap: str) -> None:
    """The baseline, then the pipeline with each kind of projection."""
    n = args.events
    base_topic = f"bench{uuid4().hex[:6]}.baseline"
    await ensure_topics(bootstrap, [base_topic])
    base = await baseline(bootstrap, base_topic, n)
    print(f"events: {n}")
    print(f"baseline  produce+consume, no database : {n / base:10.0f} events/s ({base:.1f} s)")
    for batched in (False, True):
        prefix = f"bench{uuid4().hex[:6]}"
        await ensure_topics(bootstrap, [topic_for("calls", prefix)])
        async with Pipeline(bootstrap, dsn, prefix, batched=batched) as pipe:
            report(n, base, await throughput(pipe, n, args.append_batch), batched)
            if args.rate:
                delays = await latency(pipe, args.rate, args.seconds)
                report_latency(args.rate, delays)


def report(n: int, base: float, result: dict[str, float], batched: bool) -> None:
    """Print events per second and the ratio to the baseline."""
    total, drain = result["total"], result["drain"]
    print(f"projection written {'a run at a time (BatchHandler)' if batched else 'per event'}:")
    print(f"  append stage alone                   : {n / result['append']:10.0f} events/s")
    print(f"  append->relay->consume               : {n / total:10.0f} events/s ({total:.1f} s)")
    print(f"  relay->consume of a backlog          : {n / drain:10.0f} events/s ({drain:.1f} s)")
    print(f"  ratio pipeline / baseline            : {base / total:10.3f}")
    print(f"  ratio backlog drain / baseline       : {base / drain:10.3f}")


def report_latency(rate: int, delays: list[float]) -> None:
    """Print the end-to-end latency percentiles at a constant rate."""

    def at(q: float) -> float:
        return delays[min(len(delays) - 1, int(q * len(delays)))] * 1000

    print(f"  end to end at {rate}/s ({len(delays)} events): p50 {at(0.5):.1f} ms, "
          f"p99 {at(0.99):.1f} ms, max {delays[-1] * 1000:.1f} ms")  # fmt: skip


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--append-batch", type=int, default=100, help="events per statement")
    parser.add_argument("--rate", type=int, default=1000, help="events/s for latency (0: skip)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long at that rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
        asyncio.run(run(args, Path(home)))


if __name__ == "__main__":
    main()
