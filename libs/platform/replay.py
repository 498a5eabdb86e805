"""Reading a topic from its beginning, and rebuilding a projection from it.

A replay assigns every partition itself (no consumer group, no committed offsets), reads up
to the end offsets seen when it started, and runs the handlers with side effects off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from libs.platform.consumer import MessageProcessor
from libs.platform.db import Connection
from libs.platform.kafka import partition_of

ResetProjection = Callable[[Connection], Awaitable[None]]


async def end_offsets(
    consumer: AIOKafkaConsumer, topics: Sequence[str], key: bytes | None = None
) -> dict[TopicPartition, int]:
    """Assign the partitions of the topics and return their current end offsets.

    With a key, only the partition of each topic that records with that key go to.
    """
    partitions = []
    for topic in topics:
        found = sorted(await _partitions(consumer, topic))
        if key is not None and found:
            found = [partition_of(key, len(found))]
        partitions += [TopicPartition(topic, p) for p in found]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    return ends


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    found = consumer.partitions_for_topic(topic)
    if found is None:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
    return set(found or ())


async def read_log(
    consumer: AIOKafkaConsumer, topics: Sequence[str], key: bytes | None = None
) -> AsyncIterator[ConsumerRecord]:
    """Every record of the topics from the beginning to the end offsets seen at the start.

    With a key, only the partitions that key's records go to are read (records with other
    keys on those partitions come too: the caller filters).
    """
    ends = await end_offsets(consumer, topics, key)
    remaining = {tp for tp, end in ends.items() if end > 0}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=20_000)
        for tp, records in batch.items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


@dataclass
class ReplayReport:
    """What a replay did, by outcome."""

    records: int = 0
    handled: int = 0
    skipped: int = 0


async def rebuild_projection(
    consumer: AIOKafkaConsumer,
    processor: MessageProcessor,
    reset: ResetProjection,
) -> ReplayReport:
    """Empty a projection (and its inbox rows), then apply the whole log to it again."""
    async with processor.store.transaction() as conn:
        await reset(conn)
        await conn.execute(
            f"DELETE FROM {processor.store.schema}.inbox WHERE consumer = $1", processor.sub.name
        )
    report = ReplayReport()
    async for record in read_log(consumer, processor.sub.topics):
        outcome = await processor.process(record)
        report.records += 1
        report.handled += outcome == "handled"
        report.skipped += outcome != "handled"
    return report
