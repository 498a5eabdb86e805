"""A replay of one client reads only the partitions its records go to, and misses none."""

from __future__ import annotations

import pytest

from libs.devstack.topics import topic_partitions
from libs.platform import kafka
from libs.platform.replay import end_offsets, read_log
from tests.conftest import World

pytestmark = [pytest.mark.infra]


async def test_the_replay_of_one_key_reads_its_partition_whole_and_nothing_else(
    world: World,
) -> None:
    topic = world.topic("intake")
    partitions = await topic_partitions(world.infra.bootstrap, topic)
    assert partitions > 1
    keys = [f"client-{n}".encode() for n in range(40)]
    producer = kafka.idempotent_producer(world.infra.bootstrap, client_id="test-keyed")
    await producer.start()
    try:
        placed = {}
        for round_ in range(5):
            for key in keys:
                sent = await producer.send_and_wait(topic, f"{key!r}-{round_}".encode(), key=key)
                placed[key] = sent.partition
    finally:
        await producer.stop()
    # The partitioner the replay computes with is the one that placed every record.
    assert all(kafka.partition_of(key, partitions) == placed[key] for key in keys)
    wanted = keys[7]
    consumer = kafka.plain_consumer(world.infra.bootstrap, client_id="test-keyed-reader")
    await consumer.start()
    try:
        assigned = await end_offsets(consumer, [topic], wanted)
        read = [record async for record in read_log(consumer, [topic], wanted)]
    finally:
        await consumer.stop()
    assert [tp.partition for tp in assigned] == [placed[wanted]]
    same_partition = [key for key in keys if placed[key] == placed[wanted]]
    assert len(read) == 5 * len(same_partition) < 5 * len(keys)
    assert {record.partition for record in read} == {placed[wanted]}
    mine = [record.value for record in read if record.key == wanted]
    assert mine == [f"{wanted!r}-{round_}".encode() for round_ in range(5)]
