"""Kafka clients configured the way Frontdesk needs them."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def idempotent_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """A producer that never duplicates within a session and waits for all replicas."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
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
    )
