"""One service under test as a real process, fed through Kafka by the stores of the services
it listens to, on a private slice of the session's broker and database.

The other services' events are appended straight into their event stores in test schemas;
their outbox relays run inside the test process (the same OutboxRelay a relay process runs: a
process costs seconds to start on a busy machine) and publish them, so the service learns them
exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import asyncpg
import httpx
from aiokafka import ConsumerRecord

from libs.devstack.kafka import LocalKafka
from libs.devstack.topics import ensure_topics
from libs.events import Event, decode
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.events.envelope import Service
from libs.platform import kafka
from libs.platform.db import migrate
from libs.platform.relay import OutboxRelay
from libs.platform.replay import read_log
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.support.credentials import SECRET_KEYS_ENV, STAFF, STAFF_KEY_ENV
from tests.support.pipeline import wait_until
from tests.support.processes import ServiceProcess, free_port

S = TypeVar("S", bound="Stack")


@dataclass
class Infrastructure:
    """Where the session's broker and database are, and the broker itself when local."""

    bootstrap: str
    dsn: str
    kafka: LocalKafka | None


@dataclass
class World:
    """One test's private slice of the infrastructure: topic prefix, schemas, processes."""

    infra: Infrastructure
    prefix: str
    home: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    def schema(self, name: str) -> str:
        """A schema name private to this test."""
        return f"{self.prefix}_{name}"

    def topic(self, service: str) -> str:
        """The event topic of a service, under this test's prefix."""
        return topic_for(service, self.prefix)  # type: ignore[arg-type]

    def settings(self, service: str, schema: str, **env: str) -> Settings:
        """The settings a service process of this test reads from its environment."""
        values = {
            k.removeprefix("FRONTDESK_").lower(): v for k, v in self.env(service, schema).items()
        }
        values["auth_staff_keys_sha256"] = json.loads(values["auth_staff_keys_sha256"])
        values["DATABASE_URL"] = values.pop("database_url")
        values["KAFKA_BOOTSTRAP_SERVERS"] = values.pop("kafka_bootstrap_servers")
        return Settings.model_validate({**values, **env})

    def process(self, target: str, service: str, schema: str, **env: str) -> ServiceProcess:
        """A service process wired to this test's infrastructure (not yet started)."""
        log = self.home / f"{schema}-{len(self.processes)}.log"
        proc = ServiceProcess(target, {**self.env(service, schema), **env}, log)
        self.processes.append(proc)
        return proc

    def env(self, service: str, schema: str) -> dict[str, str]:
        """Environment variables that configure a service process for this test."""
        ports = {"FRONTDESK_INBOX_SMTP_PORT": str(free_port())} if service == "inbox" else {}
        return {
            **ports,
            "FRONTDESK_SERVICE": service,
            "FRONTDESK_DB_SCHEMA": self.schema(schema),
            "FRONTDESK_TOPIC_PREFIX": self.prefix,
            "DATABASE_URL": self.infra.dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.bootstrap,
            "FRONTDESK_RELAY_POLL_SECONDS": "0.2",
            "FRONTDESK_CONSUMER_RETRY_BASE_SECONDS": "0.05",
            **STAFF_KEY_ENV,
            **SECRET_KEYS_ENV,
        }

    def stop(self) -> None:
        """Stop every process this test started."""
        for proc in self.processes:
            proc.stop()


async def new_world(infra: Infrastructure, home: Path) -> World:
    """A fresh prefix with every service's topic and dead-letter topic (6 partitions each)."""
    prefix = f"t{uuid4().hex[:10]}"
    topics = [topic_for(s, prefix) for s in ALL_SERVICES]
    topics += [dead_letter_topic(s, prefix) for s in ALL_SERVICES]
    await ensure_topics(infra.bootstrap, topics)
    return World(infra, prefix, home)


@asynccontextmanager
async def private_world(infra: Infrastructure, home: Path) -> AsyncIterator[World]:
    """A fresh world whose processes are stopped when it is left."""
    world = await new_world(infra, home)
    try:
        yield world
    finally:
        world.stop()


def stream_of(event: Event) -> str:
    """The stream an event belongs to: its notification's, its call's or its client's."""
    if notification_id := getattr(event, "notification_id", None):
        return f"notification-{notification_id}"
    call_id = getattr(event, "call_id", None)
    return f"call-{call_id}" if call_id else f"client-{event.client_id}"


@dataclass
class Stack:
    """The process of the service under test, the stores feeding it and an HTTP client for it."""

    world: World
    pool: asyncpg.Pool
    stores: dict[Service, EventStore]
    process: ServiceProcess
    http: httpx.AsyncClient

    @property
    def schema(self) -> str:
        """The schema the service process runs on."""
        return self.process.env["FRONTDESK_DB_SCHEMA"]

    @property
    def url(self) -> str:
        """Base URL of the service process."""
        return self.process.url

    async def append(self, events: Sequence[Event]) -> None:
        """Append events to the store of the service that owns them, one stream per entity."""
        for event in events:
            await self.stores[event.service].append(stream_of(event), None, [event])

    async def start_on(self, schema_name: str) -> None:
        """Start the service process again on a schema of its own (a new one: a new group)."""
        old = self.process
        self.process = self.world.process(old.target, old.env["FRONTDESK_SERVICE"], schema_name)
        self.process.env = {**old.env, "FRONTDESK_DB_SCHEMA": self.world.schema(schema_name)}
        self.process.start()
        await self.http.aclose()
        self.http = httpx.AsyncClient(
            base_url=self.process.url, timeout=self.http.timeout, headers=STAFF
        )


async def event_store(pool: asyncpg.Pool, world: World, service: Service) -> EventStore:
    """A service's event store in a schema of this world, migrated."""
    async with pool.acquire() as conn:
        await migrate(conn, world.schema(service), PLUMBING_MIGRATIONS)
    return EventStore(pool, schema=world.schema(service), service=service, prefix=world.prefix)


def outbox_relay(world: World, service: Service) -> OutboxRelay:
    """The relay of a service's store in this world, polling often."""
    bootstrap = world.infra.bootstrap
    return OutboxRelay(
        world.infra.dsn,
        schema=world.schema(service),
        service=service,
        producer_factory=lambda: kafka.idempotent_producer(bootstrap, client_id=f"{service}-relay"),
        poll_seconds=0.2,
    )


@asynccontextmanager
async def relays(world: World, services: Iterable[Service]) -> AsyncIterator[None]:
    """The outbox relays of these services' stores, running inside the test process."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(outbox_relay(world, s).run(stop)) for s in services]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


@asynccontextmanager
async def running_stack(
    kind: type[S],
    world: World,
    app: str,
    *,
    feeds: Sequence[Service] = (),
    env: Mapping[str, str] | None = None,
    http_timeout: float = 10,
    **extra: Any,
) -> AsyncIterator[S]:
    """A `kind` of stack: the service of `app` as a process, fed by the stores of `feeds`.

    The service is the one `app` names (`services.<name>.app:create_app`); a `kind` that
    carries more (servers, a clock) gets those as `extra`.
    """
    service = app.split(".")[1]
    async with AsyncExitStack() as cleanup:
        pool = await asyncpg.create_pool(world.infra.dsn, min_size=1, max_size=5)
        assert pool is not None
        cleanup.push_async_callback(pool.close)
        stores = {s: await event_store(pool, world, s) for s in feeds}
        await cleanup.enter_async_context(relays(world, feeds))
        cleanup.callback(world.stop)
        process = world.process(app, service, service, **(env or {}))
        await asyncio.to_thread(process.start)
        http = httpx.AsyncClient(base_url=process.url, timeout=http_timeout, headers=STAFF)
        found = kind(world, pool, stores, process, http, **extra)
        cleanup.push_async_callback(lambda: found.http.aclose())
        yield found


async def topic_records(world: World, service: str) -> list[ConsumerRecord]:
    """Every record on a service's topic in this world, as Kafka holds it."""
    consumer = kafka.plain_consumer(world.infra.bootstrap, client_id=f"test-{service}-reader")
    await consumer.start()
    try:
        return [record async for record in read_log(consumer, [world.topic(service)])]
    finally:
        await consumer.stop()


async def topic_events(world: World, service: str, *, unique: bool = False) -> list[Event]:
    """Every event on a service's topic in this world (once each if `unique`: no redelivery)."""
    events = [decode(record.value) for record in await topic_records(world, service)]
    if not unique:
        return events
    once: dict[UUID, Event] = {}
    for event in events:
        once.setdefault(event.event_id, event)
    return list(once.values())


async def events_on_topic(
    world: World,
    service: str,
    holds: Callable[[Event], bool],
    count: int,
    *,
    within: float = 30,
    unique: bool = False,
    what: str = "events",
) -> list[Event]:
    """The events on a service's topic that `holds` is true of, once there are `count`."""
    found: list[Event] = []

    async def published() -> bool:
        events = await topic_events(world, service, unique=unique)
        found[:] = [e for e in events if holds(e)]
        return len(found) >= count

    await wait_until(published, within=within, what=f"{count} {what} on {service}'s topic")
    return found


def of_call(call_id: UUID) -> Callable[[Event], bool]:
    """Whether an event is about this call."""
    return lambda event: getattr(event, "call_id", None) == call_id


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON of a response with the expected status."""
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


async def get_when(
    http: httpx.AsyncClient,
    path: str,
    holds: Callable[[Any], bool],
    *,
    within: float = 30,
    what: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The JSON of GET `path` once it answers 200 with a body that `holds` is true of."""
    found: list[Any] = [None]

    async def answered() -> bool:
        response = await http.get(path, params=params, headers=headers)
        found[0] = response.json() if response.status_code == 200 else None
        return found[0] is not None and holds(found[0])

    await wait_until(answered, within=within, what=what)
    return found[0]
