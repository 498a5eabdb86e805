"""A running calls service fed by a seeded intake event store, shared by a test module.

Intake's events are appended straight into an intake event store in a test schema; a relay
process publishes them, so calls learns them through Kafka exactly as in production.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from libs.devstack.topics import ensure_topics
from libs.events import (
    ClientRegistered,
    Event,
    FaqEntry,
    NotificationPreferences,
    NumberAssigned,
    OfficeHours,
    PerCallPlan,
    SecretaryBookRevised,
    UrgencyRule,
    decode,
    new_id,
)
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.platform import kafka
from libs.platform.db import migrate
from libs.platform.replay import read_log
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.conftest import Infrastructure, World
from tests.support.pipeline import RELAY, wait_until
from tests.support.processes import ServiceProcess

CALLS_APP = "services.calls.app:create_app"
TWILIO_TOKEN = "test-twilio-auth-token"


@dataclass
class Stack:
    """The calls process, the intake store feeding it and a client for its HTTP API."""

    world: World
    pool: asyncpg.Pool
    intake: EventStore
    url: str
    http: httpx.AsyncClient
    calls: ServiceProcess

    @property
    def calls_schema(self) -> str:
        """The calls service's schema in this stack."""
        return self.world.schema("calls")


@dataclass(frozen=True)
class Client:
    """A client seeded into intake's store, with its number."""

    client_id: UUID
    number: str
    name: str


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One calls process and one intake relay for every test of a module."""
    world = World(infra, f"t{uuid4().hex[:10]}", Path(tmp_path_factory.mktemp("calls")))
    topics = [topic_for(s, world.prefix) for s in ALL_SERVICES]
    await ensure_topics(
        infra.bootstrap, topics + [dead_letter_topic(s, world.prefix) for s in ALL_SERVICES]
    )
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=5)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate(conn, world.schema("intake"), PLUMBING_MIGRATIONS)
    intake = EventStore(pool, schema=world.schema("intake"), service="intake", prefix=world.prefix)
    world.process(RELAY, "intake", "intake").start()
    calls = world.process(
        CALLS_APP, "calls", "calls", FRONTDESK_CALLS_TWILIO_AUTH_TOKEN=TWILIO_TOKEN
    )
    calls.start()
    async with httpx.AsyncClient(base_url=calls.url, timeout=10) as http:
        yield Stack(world, pool, intake, calls.url, http, calls)
    for proc in world.processes:
        proc.stop()
    await pool.close()


def random_number() -> str:
    """A Dutch 085 number nobody else in the session uses (in all likelihood)."""
    return f"+3185{random.randrange(10**7):07d}"


def book(client_id: UUID, version: int, **fields: Any) -> SecretaryBookRevised:
    """Version `version` of a client's secretary book."""
    defaults: dict[str, Any] = {
        "greeting": f"Bakker Installatie, goedemorgen (book v{version})",
        "instructions": f"Instructions of version {version}",
        "faq": (FaqEntry(question="Solar panels?", answer="Yes"),),
        "urgency_rules": (UrgencyRule(kind="leak", description="Water leak", channels=("sms",)),),
    }
    return SecretaryBookRevised(
        client_id=client_id, occurred_at=_now(), book_version=version, **{**defaults, **fields}
    )


async def seed_client(
    stack: Stack,
    *,
    books: int = 1,
    cold_calls_free: bool = False,
    office_hours: OfficeHours | None = None,
) -> Client:
    """Register a client with a number and `books` book versions in intake; wait for calls."""
    client_id, number = new_id(), random_number()
    name = f"Bakker {client_id.hex[-6:]}"
    events: list[Event] = [
        ClientRegistered(
            client_id=client_id, occurred_at=_now(), name=name, contact_email="jan@bakker.nl",
            language="nl", plan=PerCallPlan(),
            notification=NotificationPreferences(recipients=("jan@bakker.nl",)),
            office_hours=office_hours or OfficeHours(), cold_calls_free=cold_calls_free,
        ),
        NumberAssigned(client_id=client_id, occurred_at=_now(), number=number),
        *[book(client_id, version) for version in range(1, books + 1)],
    ]  # fmt: skip
    await intake_append(stack, client_id, events)
    await until_known(stack, client_id, books or None)
    return Client(client_id, number, name)


async def intake_append(stack: Stack, client_id: UUID, events: Sequence[Event]) -> None:
    """Append events to a client's stream in the intake store."""
    await stack.intake.append(f"client-{client_id}", None, events)


async def until_known(stack: Stack, client_id: UUID, book_version: int | None) -> None:
    """Wait until calls' directory has the client at this book version."""

    async def known() -> bool:
        found = await stack.pool.fetchrow(
            f"SELECT c.client_id, (SELECT max(book_version) FROM {stack.calls_schema}"
            ".directory_books b WHERE b.client_id = c.client_id) AS version "
            f"FROM {stack.calls_schema}.directory_clients c WHERE c.client_id = $1",
            client_id,
        )
        return found is not None and found["version"] == book_version

    await wait_until(known, within=30, what=f"calls to learn client {client_id}")


async def calls_events(stack: Stack, call_id: UUID, count: int) -> list[Event]:
    """The events of a call on the calls topic, once at least `count` have been published."""
    found: list[Event] = []

    async def published() -> bool:
        found[:] = [e for e in await topic_events(stack) if getattr(e, "call_id", None) == call_id]
        return len(found) >= count

    await wait_until(published, within=30, what=f"{count} events of call {call_id} on Kafka")
    return found


async def topic_events(stack: Stack) -> list[Event]:
    """Every event on the calls topic of this stack."""
    consumer = kafka.plain_consumer(stack.world.infra.bootstrap, client_id="test-calls-reader")
    await consumer.start()
    try:
        return [decode(r.value) async for r in read_log(consumer, [stack.world.topic("calls")])]
    finally:
        await consumer.stop()


def _now() -> datetime:
    return datetime.now(UTC)
