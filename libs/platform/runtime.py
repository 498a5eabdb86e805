"""The running parts of one service process: pool, event store, clock, relay and consumers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from libs.events.catalogue import dead_letter_topic
from libs.events.envelope import Service
from libs.platform import kafka
from libs.platform.clock import Clock, SharedClock, SystemClock
from libs.platform.consumer import ConsumerRunner, DeadLetters, MessageProcessor, Subscription
from libs.platform.db import Migration, create_pool, migrate
from libs.platform.outages import DATABASE_OUTAGES, ServiceUnavailable
from libs.platform.relay import OutboxRelay, RelayState
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from libs.platform.supervise import Supervisor

log = structlog.get_logger(__name__)
SubscriptionFactory = Callable[[Settings], Sequence[Subscription]]
Worker = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]
"""A background loop of a service (timers, schedules); it returns once the event is set."""
Startup = Callable[["ServiceRuntime"], Awaitable[None]]
"""Work done once the database is ready, before any consumer runs (e.g. loading a gauge)."""
STARTUP_TASK = "startup"


def _no_subscriptions(_: Settings) -> Sequence[Subscription]:
    return ()


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes a service itself: its name, its tables and the events it consumes."""

    service: Service
    migrations: Sequence[Migration] = ()
    subscriptions: SubscriptionFactory = _no_subscriptions
    workers: Mapping[str, Worker] = field(default_factory=dict)
    startup: Sequence[Startup] = ()


@dataclass
class ServiceRuntime:
    """Starts and stops everything a service process runs besides its HTTP API.

    Nothing here waits for PostgreSQL or Kafka before the HTTP API answers: start-up runs as a
    supervised task that retries with backoff until the database answers and the schema is
    migrated (liveness up, readiness 503 meanwhile); then the relay, the consumers, the clock
    and the workers start, each supervised (see libs/platform/supervise.py).
    """

    settings: Settings
    definition: ServiceDefinition
    pool: asyncpg.Pool | None = None
    store: EventStore | None = None
    clock: Clock = field(default_factory=SystemClock)
    relay: OutboxRelay | None = None
    kafka_probe: kafka.KafkaProbe | None = None
    runners: list[ConsumerRunner] = field(default_factory=list)
    supervisor: Supervisor | None = None
    started: bool = False
    _dead_letters: DeadLetters | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Begin bringing the service up; returns at once, the HTTP API answers meanwhile."""
        s = self.settings
        self.supervisor = Supervisor(s.service, max_failures=s.task_max_failures)
        if s.clock == "simulated":
            self.clock = SharedClock(s.clock_dsn)
        self.supervisor.spawn(STARTUP_TASK, self._start_up, self._stop, once=True)

    def require_store(self) -> EventStore:
        """The event store, or ServiceUnavailable while the service is still starting."""
        if self.store is None:
            raise ServiceUnavailable("the service is starting")
        return self.store

    async def _start_up(self, _: asyncio.Event) -> None:
        await self._prepare_database()
        if isinstance(self.clock, SharedClock):
            await self.clock.start()
        for hook in self.definition.startup:
            await hook(self)
        self._launch()
        self.started = True
        log.info("service.started", schema=self.settings.pg_schema, clock=self.settings.clock)

    async def _prepare_database(self) -> None:
        s = self.settings
        if self.pool is None:
            self.pool = await create_pool(s.database_url.get_secret_value())
        async with self.pool.acquire() as conn:
            await migrate(conn, s.pg_schema, [*PLUMBING_MIGRATIONS, *self.definition.migrations])
        self.store = EventStore(
            self.pool,
            schema=s.pg_schema,
            service=s.service,
            prefix=s.topic_prefix,
            max_event_bytes=s.max_event_bytes,
        )

    def _launch(self) -> None:
        assert self.supervisor is not None
        spawn = functools.partial(self.supervisor.spawn, stop=self._stop)
        if isinstance(self.clock, SharedClock):
            spawn("clock", self.clock.follow)
        self.kafka_probe = self._kafka_probe()
        spawn("kafka-probe", self.kafka_probe.run)
        self.relay = self._relay()
        spawn("relay", self.relay.run)
        for sub in self.definition.subscriptions(self.settings):
            self.runners.append(self._runner(sub))
            spawn(f"consumer:{sub.name}", self.runners[-1].run)
        for name, worker in self.definition.workers.items():
            spawn(name, functools.partial(worker, self))

    def _kafka_probe(self) -> kafka.KafkaProbe:
        s = self.settings
        return kafka.KafkaProbe(
            s.kafka_bootstrap_servers,
            client_id=f"{s.service}-probe",
            every=s.kafka_probe_seconds,
            stale_after=s.kafka_stale_seconds,
        )

    def _relay(self) -> OutboxRelay:
        s = self.settings
        return OutboxRelay(
            s.database_url.get_secret_value(),
            schema=s.pg_schema,
            service=s.service,
            producer_factory=lambda: kafka.idempotent_producer(
                s.kafka_bootstrap_servers, client_id=f"{s.service}-relay"
            ),
            batch_size=s.relay_batch_size,
            poll_seconds=s.relay_poll_seconds,
        )

    def _runner(self, sub: Subscription) -> ConsumerRunner:
        store, s = self.require_store(), self.settings
        if self._dead_letters is None:  # started on the first dead letter, not at start-up
            self._dead_letters = DeadLetters(
                lambda: kafka.idempotent_producer(
                    s.kafka_bootstrap_servers, client_id=f"{s.service}-dead-letters"
                ),
                dead_letter_topic(s.service, s.topic_prefix),
            )
        processor = MessageProcessor(
            sub,
            store,
            self._dead_letters,
            now=self.clock.now,
            max_attempts=s.consumer_max_attempts,
            retry_base=s.consumer_retry_base_seconds,
        )
        return ConsumerRunner(
            processor,
            lambda: kafka.group_consumer(s.kafka_bootstrap_servers, *sub.topics, group=sub.name),
        )

    async def stop(self) -> None:
        """Stop every task, then close the connections."""
        self._stop.set()
        if self.supervisor is not None:
            await self.supervisor.wait(15)
        if self._dead_letters is not None:
            await self._dead_letters.close()
        if self.pool is not None:
            await self.pool.close()

    def liveness(self) -> list[str]:
        """The tasks that keep failing (not for an outage): the process should be restarted."""
        return self.supervisor.failing() if self.supervisor else []

    async def readiness(self) -> dict[str, Any]:
        """Whether the database answers, Kafka answered lately and every task is running."""
        relay = self.relay.state if self.relay else RelayState.STARTING
        database = await self._database_answers()
        probe = self.kafka_probe
        since = probe.seconds_since_contact() if probe else None
        broker = probe is not None and probe.reachable()
        waiting = self.supervisor.not_running() if self.supervisor else [STARTUP_TASK]
        clock = self._clock_state()
        return {
            "started": self.started,
            "database": database,
            "kafka": broker,
            "kafka_seconds_since_contact": None if since is None else round(since, 1),
            "relay": str(relay),
            "consumers": {r.processor.sub.name: r.running for r in self.runners},
            "clock": clock,
            "tasks_not_running": waiting,
            "ready": self.started
            and database
            and broker
            and relay in (RelayState.ACTIVE, RelayState.STANDBY)
            and all(r.running for r in self.runners)
            and clock != "reconnecting"
            and not waiting,
        }

    def _clock_state(self) -> str:
        if not isinstance(self.clock, SharedClock):
            return "system"
        return "following" if self.clock.following else "reconnecting"

    async def _database_answers(self) -> bool:
        if self.pool is None or self.pool.is_closing():
            return False
        try:
            async with asyncio.timeout(2):
                await self.pool.fetchval("SELECT 1")
        except DATABASE_OUTAGES as exc:
            log.warning("readiness.database_unavailable", error=repr(exc))
            return False
        return True
