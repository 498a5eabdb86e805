"""A real Kafka broker started from Maven jars keeps topics and messages across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from libs.devstack.kafka import KafkaPortInUse, LocalKafka, default_cache_dir
from libs.devstack.topics import ensure_topics, topic_partitions

pytestmark = pytest.mark.infra

TOPIC = "devstack.check"


def free_ports(count: int) -> list[int]:
    """Return count distinct ports that were free on 127.0.0.1 a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[LocalKafka]:
    """A broker on free ports in a temporary home, always stopped afterwards."""
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        tmp_path / "kafka",
        port=port,
        controller_port=controller_port,
        cache_dir=default_cache_dir(),
    )
    try:
        yield broker
    finally:
        await broker.stop()


async def produce(bootstrap: str, value: bytes) -> None:
    """Send one keyed message to TOPIC and wait for the acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value, key=b"call-1")
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, expected: int) -> list[bytes]:
    """Read expected messages of TOPIC from the beginning, without a consumer group."""
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            return [(await consumer.getone()).value for _ in range(expected)]
    finally:
        await consumer.stop()


async def test_topics_and_messages_survive_a_restart(kafka: LocalKafka) -> None:
    seconds = await kafka.start()
    bootstrap = kafka.bootstrap_servers

    assert seconds > 0
    assert kafka.is_running
    assert await ensure_topics(bootstrap, [TOPIC]) == [TOPIC]
    assert await ensure_topics(bootstrap, [TOPIC, TOPIC]) == []
    assert await topic_partitions(bootstrap, TOPIC) == 6
    await produce(bootstrap, b"hello")
    assert await consume_all(bootstrap, 1) == [b"hello"]

    await kafka.stop()
    assert not kafka.is_running
    assert not kafka.pid_path.exists()
    await kafka.start()

    assert await ensure_topics(bootstrap, [TOPIC]) == []
    assert await topic_partitions(bootstrap, TOPIC) == 6
    assert await consume_all(bootstrap, 1) == [b"hello"]


async def test_a_killed_broker_recovers_and_a_port_is_never_shared(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    await kafka.start()
    await ensure_topics(kafka.bootstrap_servers, [TOPIC])
    await produce(kafka.bootstrap_servers, b"before the crash")
    other = LocalKafka(tmp_path / "other", port=kafka.port, controller_port=kafka.controller_port)

    with pytest.raises(KafkaPortInUse):
        await other.start()
    assert await other.start(reuse=True) < 10
    await other.stop()  # started elsewhere: left alone
    assert kafka.is_running

    kafka.kill()
    assert not kafka.is_running
    await kafka.start()
    await produce(kafka.bootstrap_servers, b"after the crash")
    assert await consume_all(kafka.bootstrap_servers, 2) == [
        b"before the crash",
        b"after the crash",
    ]

    assert await LocalKafka.stop_pidfile(kafka.home)  # as a CLI in a later process would
    assert not kafka.is_running
    assert not await LocalKafka.stop_pidfile(kafka.home)
