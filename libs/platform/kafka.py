"""Kafka clients configured the way Frontdesk needs them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

log = structlog.get_logger(__name__)
ProducerFactory = Callable[[], AIOKafkaProducer]
KEY_PARTITIONER = DefaultPartitioner()
"""Where a keyed record goes: murmur2 of the key, as Kafka's Java clients do it.

Every event is keyed by its client, so all of a client's events share one partition of each
topic: that keeps them in order, and lets a replay of one client read that partition alone.
Both hold only while a topic keeps the partition count it was created with; the topics are
made once (libs/devstack/topics.py) and their partitions are never added to.
"""


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a record with `key` goes to on a topic of `partitions` partitions."""
    every = list(range(partitions))
    chosen: int = KEY_PARTITIONER(key, every, every)
    return chosen


class LazyProducer:
    """A producer started on first use, and started afresh after `close` (a failed send).

    A service starts without Kafka this way, and a producer that lost its broker is replaced
    rather than trusted again.
    """

    def __init__(self, factory: ProducerFactory) -> None:
        self.factory = factory
        self._producer: AIOKafkaProducer | None = None

    async def get(self) -> AIOKafkaProducer:
        """The started producer."""
        if self._producer is None:
            producer = self.factory()
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        """Stop the producer, if one was started."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception as exc:  # closing a broken producer may fail too
                log.info("kafka.producer_close_failed", error=repr(exc))


def idempotent_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """A producer that never duplicates within a session and waits for all replicas."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        partitioner=KEY_PARTITIONER,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
        retry_backoff_ms=250,
    )


def group_consumer(bootstrap: str, *topics: str, group: str) -> AIOKafkaConsumer:
    """A consumer in a group that commits offsets itself, after its database commit."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
        metadata_max_age_ms=30_000,
    )


def plain_consumer(bootstrap: str, *, client_id: str) -> AIOKafkaConsumer:
    """A consumer without a group, for replays that assign partitions themselves."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # A replay reads history as fast as it can: big fetches, fewer round trips.
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


class KafkaProbe:
    """Asks the cluster for its brokers every few seconds and remembers when it last answered.

    Readiness needs it because nothing else notices an outage in time: an idle relay has
    nothing to send, and aiokafka's consumers retry fetches quietly, returning empty batches.
    """

    def __init__(self, bootstrap: str, *, client_id: str, every: float, stale_after: float) -> None:
        self.bootstrap, self.client_id = bootstrap, client_id
        self.every, self.stale_after = every, stale_after
        self.last_contact: float | None = None
        self._answered: bool | None = None

    def seconds_since_contact(self) -> float | None:
        """Seconds since the cluster last answered (None: never yet)."""
        return None if self.last_contact is None else time.monotonic() - self.last_contact

    def reachable(self) -> bool:
        """Whether the cluster answered within the last `stale_after` seconds."""
        since = self.seconds_since_contact()
        return since is not None and since <= self.stale_after

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until `stop` is set."""
        while not stop.is_set():
            self._record(await self.probe())
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)

    def _record(self, answered: bool) -> None:
        if answered:
            self.last_contact = time.monotonic()
        if answered != self._answered:
            event = "kafka.reachable" if answered else "kafka.unreachable"
            log.info(event, bootstrap=self.bootstrap)
        self._answered = answered

    async def probe(self) -> bool:
        """One metadata request without topics; True when a broker answered."""
        client = AIOKafkaClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=int(self.every * 1000),
        )
        try:
            async with asyncio.timeout(self.every):
                await client.bootstrap()
            return bool(client.cluster.brokers())
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("kafka.probe_failed", bootstrap=self.bootstrap, error=repr(exc))
            return False
        finally:
            await client.close()
