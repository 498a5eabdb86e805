"""Replays from the Kafka log with side effects off: read a client's events, recompute a month.

A plain consumer (no group, no committed offsets) reads the intake, calls, notify and billing
topics from the beginning to the end offsets seen at the start, keeps the records keyed by the
client, and hands them to the same pure fold that runs live. Nothing is appended or sent.
Every event is keyed by its client, so only the client's partition of each topic is read:
the cost follows the client's share of the log, not everyone's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from aiokafka import AIOKafkaConsumer

from libs.events.catalogue import UndecodableEvent, decode, topic_for
from libs.platform import collector, kafka
from libs.platform.replay import end_offsets, read_log
from services.billing.domain.replay import LoggedEvent, Replay, rebuild

LOG_SERVICES = ("intake", "calls", "notify", "billing")
Progress = Callable[[int, int], None]
"""Told (records read, records in the log) while a replay reads."""


def log_topics(prefix: str) -> list[str]:
    """The topics a replay reads."""
    return [topic_for(service, prefix) for service in LOG_SERVICES]  # type: ignore[arg-type]


async def read_client_log(
    bootstrap: str, prefix: str, client_id: UUID, progress: Progress | None = None
) -> tuple[list[LoggedEvent], int]:
    """The client's events on the log, with their positions; and how many records were read."""
    consumer = kafka.plain_consumer(bootstrap, client_id="frontdesk-billing-replay")
    await consumer.start()
    try:
        with collector.while_building():
            return await _read_client(consumer, prefix, client_id, progress)
    finally:
        await consumer.stop()


async def _read_client(
    consumer: AIOKafkaConsumer, prefix: str, client_id: UUID, progress: Progress | None
) -> tuple[list[LoggedEvent], int]:
    topics = log_topics(prefix)
    key, read, found = str(client_id).encode(), 0, []
    total = sum((await end_offsets(consumer, topics, key)).values())
    async for record in read_log(consumer, topics, key):
        read += 1
        if progress is not None and read % 1000 == 0:
            progress(read, total)
        if record.key != key:
            continue
        try:
            event = decode(record.value)
        except UndecodableEvent:  # parked in a dead-letter topic when it was consumed
            continue
        found.append(LoggedEvent(event, record.topic, record.partition, record.offset))
    if progress is not None:
        progress(read, total)
    return found, read


async def replay_from_log(
    bootstrap: str, prefix: str, client_id: UUID, period: str, as_of: datetime | None,
    progress: Progress | None = None,
) -> tuple[Replay, int]:  # fmt: skip
    """The month rebuilt from the log next to its issued invoice; and the records read."""
    records, read = await read_client_log(bootstrap, prefix, client_id, progress)
    billing_topic = topic_for("billing", prefix)
    return rebuild(records, client_id, period, billing_topic, as_of), read
