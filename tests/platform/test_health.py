"""/health/ready follows the broker: 503 while it is away, 200 again once it is back.

The test runs its own broker, so stopping it disturbs no other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.topics import ensure_topics
from libs.events.catalogue import ALL_SERVICES, topic_for
from tests.conftest import Infrastructure, World
from tests.support.credentials import STAFF
from tests.support.pipeline import PROJECTION, wait_until
from tests.support.processes import free_port

pytestmark = [pytest.mark.infra, pytest.mark.slow]


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[LocalKafka]:
    """A broker of this test alone, always stopped afterwards."""
    broker = LocalKafka(
        tmp_path / "kafka", port=free_port(), controller_port=free_port(),
        cache_dir=default_cache_dir(),
    )  # fmt: skip
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


async def test_readiness_is_503_while_the_broker_is_down_and_200_once_it_is_back(
    infra: Infrastructure, own_broker: LocalKafka, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap_servers
    world = World(
        Infrastructure(bootstrap, infra.dsn, own_broker), f"t{uuid4().hex[:10]}", tmp_path
    )
    await ensure_topics(bootstrap, [topic_for(s, world.prefix) for s in ALL_SERVICES])
    service = world.process(PROJECTION, "billing", "proj")
    try:
        service.start()
        await _follows_the_broker(service.url, own_broker)
    finally:
        service.stop()


async def _follows_the_broker(url: str, broker: LocalKafka) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=STAFF) as http:
        await wait_until(lambda: ready_is(http, 200), within=30, what="ready at start")
        await broker.stop()
        await wait_until(lambda: ready_is(http, 503), within=30, what="503 without Kafka")
        body = (await http.get("/health/ready")).json()
        assert body["kafka"] is False, body
        assert body["database"] is True, body
        assert (await http.get("/health/live")).status_code == 200
        await broker.start()
        await wait_until(lambda: ready_is(http, 200), within=30, what="ready again")
        assert (await http.get("/health/ready")).json()["kafka"] is True


async def ready_is(http: httpx.AsyncClient, status: int) -> bool:
    """GET /health/ready answers with this status."""
    return (await http.get("/health/ready")).status_code == status
