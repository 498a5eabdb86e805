"""Replay speed of the billing fold, against plain JSON decoding of the same events.

In memory: one million CallReceived events (plus their digests and a few marks) over 1,000
clients. Measured in the same run:

- baseline: `json.loads` of every event's wire bytes (no validation, no billing);
- fold: `fold()` of the decoded events into per-client facts;
- fold + invoices: the fold and every client's January invoice (per-call decisions, lines);
- decode + fold: the catalogue's `decode` (pydantic validation) and the fold, as a replay does.

With `--kafka-events N` (default 100000; 0 skips it) the same kind of events are produced to
a topic of a local broker (or KAFKA_BOOTSTRAP_SERVERS) and read back with `read_log`: raw
reading is the baseline, reading + decode + fold is the replay.

With `--dispute-others N` a month of one client is replayed from the log the way a billing
dispute is (services/billing/replays.py) while N events of 1,000 other clients lie on the
same four topics; the baseline is reading every partition of them raw.

    ./run python benchmarks/billing_replay.py --events 1000000 --kafka-events 100000
    ./run python benchmarks/billing_replay.py --events 0 --kafka-events 0 --dispute-others 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from libs.devstack.kafka import broker_for
from libs.devstack.topics import ensure_topics
from libs.events import (
    SYSTEM,
    CallMarkedNonBillable,
    CallReceived,
    ClientRegistered,
    Event,
    NotificationPreferences,
    NotificationSent,
    PerCallPlan,
    decode,
    encode,
    new_id,
)
from libs.events.catalogue import topic_for
from libs.platform import collector, kafka
from libs.platform.replay import read_log
from services.billing.domain.documents import run_period
from services.billing.domain.ledger import fold
from services.billing.replays import log_topics, replay_from_log

START = datetime(2026, 1, 1, 8, tzinfo=UTC)


def events_for(calls: int, clients: int = 1000) -> Iterator[Event]:
    """Registrations, then calls with a digest every 10 calls of a client and 1% marked."""
    ids = [new_id() for _ in range(clients)]
    prefs = NotificationPreferences(recipients=("a@b.nl",))
    for client in ids:
        yield ClientRegistered(client_id=client, occurred_at=START - timedelta(days=30), name="X",
                               contact_email="a@b.nl", language="nl", plan=PerCallPlan(),
                               notification=prefs)  # fmt: skip
    pending: dict[Any, list[Any]] = {c: [] for c in ids}
    for i in range(calls):
        client = ids[i % clients]
        at = START + timedelta(seconds=2 * i)
        received = CallReceived.model_construct(
            event_id=new_id(), type="CallReceived", schema_version=1, client_id=client,
            occurred_at=at, correlation_id=new_id(), causation_id=None, actor=SYSTEM,
            call_id=new_id(), dialled_number="+31851234567", caller_number="+31612345678",
            received_at=at, book_version=1, office_open=True,
        )  # fmt: skip
        yield received
        pending[client].append(received.call_id)
        if i % 100 == 0:
            yield CallMarkedNonBillable(client_id=client, occurred_at=at, call_id=received.call_id,
                                        reason="wrong_number")  # fmt: skip
        if len(pending[client]) == 10:
            yield NotificationSent(client_id=client, occurred_at=at, notification_id=new_id(),
                                   channel="email", kind="daily_digest", recipients=("a@b.nl",),
                                   dedupe_key=str(i), call_ids=tuple(pending[client]),
                                   message_id="m")  # fmt: skip
            pending[client] = []


def timed(what: Callable[[], object]) -> float:
    """Seconds `what` takes."""
    started = time.perf_counter()
    what()
    return time.perf_counter() - started


def in_memory(calls: int, decode_sample: int) -> None:
    """The pure fold against json.loads, on events generated in memory."""
    events = list(events_for(calls))
    wire = [encode(e) for e in events]
    n = len(events)
    print(f"events in memory: {n} ({calls} calls)")
    base = timed(lambda: [json.loads(w) for w in wire])
    folded = timed(lambda: fold(events))
    ledger = fold(events)
    invoiced = timed(lambda: [run_period(c, "2026-01") for c in ledger.values()])
    sample = wire[:decode_sample]
    decoded = timed(lambda: fold(decode(w) for w in sample)) * n / len(sample)
    _row("baseline json.loads", n, base, base)
    _row("fold", n, folded, base)
    _row("fold + every client's invoice", n, folded + invoiced, base)
    _row(f"decode + fold (from {len(sample)})", n, decoded, base)


def _row(name: str, n: int, seconds: float, base: float) -> None:
    print(f"  {name:34s}: {n / seconds:12,.0f} events/s  ({seconds:7.2f} s)  "
          f"ratio to baseline {base / seconds:5.2f}")  # fmt: skip


async def from_kafka(n: int, home: Path) -> None:
    """Reading N events back from Kafka: raw, then decoded and folded like a replay."""
    async with broker_for(home) as bootstrap:
        topic = f"bench{uuid4().hex[:6]}.calls.v1"
        await ensure_topics(bootstrap, [topic])
        await _produce(bootstrap, topic, n)
        raw = await _read(bootstrap, [topic], lambda values: len(values))
        replay = await _read(bootstrap, [topic], lambda values: fold(decode(v) for v in values))
        print(f"events from Kafka: {n}")
        _row("baseline read_log (raw)", n, raw, raw)
        _row("read_log + decode + fold", n, replay, raw)


async def dispute(others: int, home: Path) -> None:
    """One client's dispute replay with `others` events of 1,000 other clients on the log.

    The replay reads the client's partition of each topic only; the baseline is what it read
    before, every partition of the four topics, raw, without decoding anything.
    """
    async with broker_for(home) as bootstrap:
        prefix = f"bench{uuid4().hex[:6]}"
        topics = log_topics(prefix)
        await ensure_topics(bootstrap, topics)
        disputed = list(events_for(300, clients=1))
        started = time.perf_counter()
        await _produce_events(bootstrap, prefix, events_for(others, clients=1000))
        await _produce_events(bootstrap, prefix, iter(disputed))
        print(f"produced {others + len(disputed)} events in {time.perf_counter() - started:.0f} s")
        client = disputed[0].client_id
        whole = await _read(bootstrap, topics, lambda values: len(values))
        started = time.perf_counter()
        replay, read = await replay_from_log(bootstrap, prefix, client, "2026-01", None)
        took = time.perf_counter() - started
        assert 0 < replay.events_used <= len(disputed), (replay.events_used, len(disputed))
        print(f"dispute replay of one client among 1,001 ({others:,} events of others):")
        print(f"  baseline: every partition read raw    : {whole:7.2f} s")
        print(f"  replay_from_log, the client's share   : {took:7.2f} s ({read:,} records read, "
              f"{replay.events_used} used)  ratio to baseline {whole / took:5.1f}")  # fmt: skip


async def _produce_events(bootstrap: str, prefix: str, events: Iterator[Event]) -> None:
    """Each event to its service's topic, keyed by its client, as the relays publish them."""
    producer = kafka.idempotent_producer(bootstrap, client_id="bench-billing")
    await producer.start()
    try:
        pending = []
        for event in events:
            topic = topic_for(event.service, prefix)
            pending.append(await producer.send(topic, encode(event),
                                               key=str(event.client_id).encode()))  # fmt: skip
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = kafka.idempotent_producer(bootstrap, client_id="bench-billing")
    await producer.start()
    try:
        batch = []
        for event in events_for(n, clients=100):
            batch.append(
                await producer.send(topic, encode(event), key=str(event.client_id).encode())
            )
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def _read(bootstrap: str, topics: list[str], then: Callable[[list[bytes]], object]) -> float:
    consumer = kafka.plain_consumer(bootstrap, client_id="bench-billing-replay")
    await consumer.start()
    try:
        started = time.perf_counter()
        values = [record.value async for record in read_log(consumer, topics)]
        then(values)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def main() -> None:
    """Parse arguments and run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="calls in memory (0: skip)")
    parser.add_argument("--decode-sample", type=int, default=100_000)
    parser.add_argument("--kafka-events", type=int, default=100_000, help="0: skip Kafka")
    parser.add_argument(
        "--dispute-others",
        type=int,
        default=0,
        help="events of other clients on the log for a dispute replay (0: skip)",
    )
    args = parser.parse_args()
    collector.settle_after_start()  # as a service process runs (libs/platform/serve.py)
    if args.events:
        in_memory(args.events, args.decode_sample)
    if args.kafka_events:
        with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
            asyncio.run(from_kafka(args.kafka_events, Path(home)))
    if args.dispute_others:
        with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as home:
            asyncio.run(dispute(args.dispute_others, Path(home)))


if __name__ == "__main__":
    main()
