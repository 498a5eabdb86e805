"""A running billing process fed by seeded intake, calls and notify stores, per test module.

Other services' events are appended straight into their event stores in test schemas; relay
processes publish them, so billing learns them through Kafka exactly as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from libs.devstack.topics import ensure_topics
from libs.events import Event, NotificationSent, Service
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.platform.db import migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.conftest import Infrastructure, World
from tests.support.pipeline import RELAY, wait_until
from tests.support.processes import ServiceProcess

BILLING_APP = "services.billing.app:create_app"
SEEDED: tuple[Service, ...] = ("intake", "calls", "notify")


@dataclass
class Stack:
    """The billing process, the stores feeding it and a client for its HTTP API."""

    world: World
    pool: asyncpg.Pool
    stores: dict[str, EventStore]
    billing: ServiceProcess
    schema: str
    http: httpx.AsyncClient

    async def append(self, events: Sequence[Event]) -> None:
        """Append events to the store of the service that owns them, one stream per entity."""
        for event in events:
            await self.stores[event.service].append(_stream(event), None, [event])

    async def until_billing_has(self, events: Sequence[Event], within: float = 30) -> None:
        """Wait until billing's projection holds every one of the events."""
        ids = [e.event_id for e in events]

        async def known() -> bool:
            found = await self.pool.fetchval(
                f"SELECT count(*) FROM {self.schema}.history WHERE event_id = ANY($1::uuid[])",
                ids,
            )
            return bool(found == len(ids))

        await wait_until(known, within=within, what=f"billing to consume {len(ids)} events")

    async def start_billing(self, schema_name: str) -> None:
        """(Re)start the billing process on a schema of its own (a new one: a new group)."""
        await self.http.aclose()
        self.billing = self.world.process(BILLING_APP, "billing", schema_name)
        self.billing.start()
        self.schema = self.world.schema(schema_name)
        self.http = httpx.AsyncClient(base_url=self.billing.url, timeout=60)


def _stream(event: Event) -> str:
    if isinstance(event, NotificationSent):
        return f"notification-{event.notification_id}"
    call_id = getattr(event, "call_id", None)
    return f"call-{call_id}" if call_id else f"client-{event.client_id}"


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Relays for intake, calls and notify, and one billing process, for a test module."""
    world = World(infra, f"t{uuid4().hex[:10]}", Path(tmp_path_factory.mktemp("billing")))
    topics = [topic_for(s, world.prefix) for s in ALL_SERVICES]
    await ensure_topics(
        infra.bootstrap, topics + [dead_letter_topic(s, world.prefix) for s in ALL_SERVICES]
    )
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=5)
    assert pool is not None
    stores: dict[str, EventStore] = {}
    for service in SEEDED:
        async with pool.acquire() as conn:
            await migrate(conn, world.schema(service), PLUMBING_MIGRATIONS)
        stores[service] = EventStore(
            pool,
            schema=world.schema(service),
            service=service,
            prefix=world.prefix,
        )
        world.process(RELAY, service, service).start()
    billing = world.process(BILLING_APP, "billing", "billing")
    billing.start()
    http = httpx.AsyncClient(base_url=billing.url, timeout=60)
    found = Stack(world, pool, stores, billing, world.schema("billing"), http)
    yield found
    await found.http.aclose()
    for proc in world.processes:
        proc.stop()
    await pool.close()


def now() -> datetime:
    """The real current instant (the billing process runs on the system clock)."""
    return datetime.now(UTC)


def ids(values: Sequence[str]) -> list[UUID]:
    """Parse UUID strings."""
    return [UUID(v) for v in values]
