"""Create Kafka topics idempotently and inspect them, for the local stack and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

# Events are the source of truth, so local topics keep them forever.
DEFAULT_TOPIC_CONFIG: Mapping[str, str] = MappingProxyType({"retention.ms": "-1"})


@asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[Any]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="frontdesk-devstack")
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
    config: Mapping[str, str] | None = None,
    timeout_ms: int = 30_000,
) -> list[str]:
    """Create the topics that do not exist yet; return the names this call created.

    config replaces DEFAULT_TOPIC_CONFIG for the topics created.
    """
    wanted = list(dict.fromkeys(names))
    settings = dict(DEFAULT_TOPIC_CONFIG if config is None else config)
    async with _admin(bootstrap) as admin:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(name, partitions, replication_factor, topic_configs=settings)
            for name in missing
        ]
        response = await admin.create_topics(new, timeout_ms=timeout_ms)
    created = _created(response.topic_errors)
    return [name for name in missing if name in created]


def _created(topic_errors: Sequence[Sequence[Any]]) -> set[str]:
    # Another client may create a topic between our listing and our request: that is fine.
    created: set[str] = set()
    for entry in topic_errors:
        name, code = str(entry[0]), int(entry[1])
        if code == 0:
            created.add(name)
        elif code != TopicAlreadyExistsError.errno:
            message = entry[2] if len(entry) > 2 else ""
            raise for_code(code)(f"creating topic {name!r} failed: {message}")
    return created


async def topic_partitions(bootstrap: str, name: str) -> int:
    """Return how many partitions topic name has; raise UnknownTopicOrPartitionError if none."""
    async with _admin(bootstrap) as admin:
        (topic,) = await admin.describe_topics([name])
    if topic["error_code"]:
        raise for_code(topic["error_code"])(f"describing topic {name!r} failed")
    return len(topic["partitions"])
