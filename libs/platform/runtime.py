"""The running parts of one service process: pool, event store, clock, relay and consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from libs.events.catalogue import dead_letter_topic
from libs.events.envelope import Service
from libs.platform import kafka
from libs.platform.clock import Clock, SharedClock, SystemClock
from libs.platform.consumer import ConsumerRunner, DeadLetters, MessageProcessor, Subscription
from libs.platform.db import Migration, create_pool, migrate
from libs.platform.relay import OutboxRelay, RelayState
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore

log = structlog.get_logger(__name__)
SubscriptionFactory = Callable[[Settings], Sequence[Subscription]]
Worker = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]
"""A background loop of a service (timers, schedules); it returns once the event is set."""
Startup = Callable[["ServiceRuntime"], Awaitable[None]]
"""Work done once the database is ready, before any consumer runs (e.g. loading a gauge)."""
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _no_subscriptions(_: Settings) -> Sequence[Subscription]:
    return ()


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes a service itself: its name, its tables and the events it consumes."""

    service: Service
    migrations: Sequence[Migration] = ()
    subscriptions: SubscriptionFactory = _no_subscriptions
    workers: Sequence[Worker] = ()
    startup: Sequence[Startup] = ()


@dataclass
class ServiceRuntime:
    """Starts and stops everything a service process runs besides its HTTP API."""

    settings: Settings
    definition: ServiceDefinition
    pool: asyncpg.Pool | None = None
    store: EventStore | None = None
    clock: Clock = field(default_factory=SystemClock)
    relay: OutboxRelay | None = None
    kafka_probe: kafka.KafkaProbe | None = None
    runners: list[ConsumerRunner] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Migrate the schema, start the clock, the relay and every consumer."""
        s = self.settings
        self.pool = await create_pool(s.database_url.get_secret_value())
        async with self.pool.acquire() as conn:
            await migrate(conn, s.pg_schema, [*PLUMBING_MIGRATIONS, *self.definition.migrations])
        self.store = EventStore(
            self.pool, schema=s.pg_schema, service=s.service, prefix=s.topic_prefix
        )
        self.clock = await self._start_clock()
        for hook in self.definition.startup:
            await hook(self)
        self._start_kafka_probe()
        self.relay = OutboxRelay(
            s.database_url.get_secret_value(),
            schema=s.pg_schema,
            service=s.service,
            producer_factory=lambda: kafka.idempotent_producer(
                s.kafka_bootstrap_servers, client_id=f"{s.service}-relay"
            ),
            batch_size=s.relay_batch_size,
            poll_seconds=s.relay_poll_seconds,
        )
        self._spawn(self.relay.run(self._stop))
        await self._start_consumers()
        for worker in self.definition.workers:
            self._spawn(worker(self, self._stop))
        log.info("service.started", schema=s.pg_schema, clock=s.clock)

    async def _start_clock(self) -> Clock:
        if self.settings.clock == "system":
            return SystemClock()
        shared = SharedClock(self.settings.clock_dsn)
        await shared.start()
        return shared

    def _start_kafka_probe(self) -> None:
        s = self.settings
        self.kafka_probe = kafka.KafkaProbe(
            s.kafka_bootstrap_servers,
            client_id=f"{s.service}-probe",
            every=s.kafka_probe_seconds,
            stale_after=s.kafka_stale_seconds,
        )
        self._spawn(self.kafka_probe.run(self._stop))

    async def _start_consumers(self) -> None:
        subscriptions = self.definition.subscriptions(self.settings)
        if not subscriptions:
            return
        s = self.settings
        self._producer = kafka.idempotent_producer(
            s.kafka_bootstrap_servers, client_id=f"{s.service}-dead-letters"
        )
        await self._producer.start()
        dead_letters = DeadLetters(self._producer, dead_letter_topic(s.service, s.topic_prefix))
        for sub in subscriptions:
            self.runners.append(self._runner(sub, dead_letters))
            self._spawn(self.runners[-1].run(self._stop))

    def _runner(self, sub: Subscription, dead_letters: DeadLetters) -> ConsumerRunner:
        assert self.store is not None
        s = self.settings
        processor = MessageProcessor(
            sub,
            self.store,
            dead_letters,
            now=self.clock.now,
            max_attempts=s.consumer_max_attempts,
            retry_base=s.consumer_retry_base_seconds,
        )
        return ConsumerRunner(
            processor,
            lambda: kafka.group_consumer(s.kafka_bootstrap_servers, *sub.topics, group=sub.name),
        )

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def stop(self) -> None:
        """Stop consumers and relay, then close the connections."""
        self._stop.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 15)
        if self._producer is not None:
            await self._producer.stop()
        if isinstance(self.clock, SharedClock):
            await self.clock.stop()
        if self.pool is not None:
            await self.pool.close()

    async def readiness(self) -> dict[str, Any]:
        """Whether the database answers, Kafka answered lately, the relay and consumers work."""
        relay = self.relay.state if self.relay else RelayState.STARTING
        database = await self._database_answers()
        probe = self.kafka_probe
        since = probe.seconds_since_contact() if probe else None
        broker = probe is not None and probe.reachable()
        return {
            "database": database,
            "kafka": broker,
            "kafka_seconds_since_contact": None if since is None else round(since, 1),
            "relay": str(relay),
            "consumers": {r.processor.sub.name: r.running for r in self.runners},
            "ready": database
            and broker
            and relay in (RelayState.ACTIVE, RelayState.STANDBY)
            and all(r.running for r in self.runners),
        }

    async def _database_answers(self) -> bool:
        if self.pool is None or self.pool.is_closing():
            return False
        try:
            async with asyncio.timeout(2):
                await self.pool.fetchval("SELECT 1")
        except DATABASE_ERRORS as exc:
            log.warning("readiness.database_unavailable", error=repr(exc))
            return False
        return True


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("service.task_crashed", error=repr(task.exception()))
