"""Effectively-once event consumers: inbox row and handler writes commit together.

For every message: decode it (undecodable -> dead-letter topic), then in one transaction
insert the inbox row `(consumer, event_id)` and run the handler; a duplicate delivery finds
the row and is skipped. Offsets are committed to Kafka only after the database commit, so a
crash in between redelivers messages that the inbox then absorbs. A handler that keeps
failing sends its message to the dead-letter topic and the consumer carries on; a database
outage is waited out instead, since it is no fault of the message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from libs.events.catalogue import UndecodableEvent, decode
from libs.events.envelope import Event
from libs.platform.db import Connection
from libs.platform.faults import crash_point
from libs.platform.kafka import LazyProducer, ProducerFactory
from libs.platform.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENTS_CONSUMED, HANDLER_SECONDS
from libs.platform.outages import DATABASE_OUTAGES, backoff, sleep_or_stop
from libs.platform.store import EventStore

log = structlog.get_logger(__name__)
LOG_CONTEXT = ("event_id", "client_id", "event_type", "topic", "partition", "offset")
INFRASTRUCTURE_ERRORS = DATABASE_OUTAGES
"""Waited out, never dead-lettered: they say nothing about the message."""
AfterCommit = Callable[[], None]


@dataclass
class HandlerContext:
    """What a handler gets besides the event: its transaction and the means to emit events."""

    conn: Connection
    store: EventStore
    now: Callable[[], datetime]
    replay: bool = False
    position: tuple[str, int, int] = ("", 0, 0)
    skipped_emits: list[Event] = field(default_factory=list)
    committed: list[AfterCommit] = field(default_factory=list)

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once the handler's transaction committed (metrics, in-memory state).

        A transaction that rolls back, or a batch retried record by record, drops it.
        """
        self.committed.append(action)

    async def emit(self, stream_id: str, expected: int | None, events: Sequence[Event]) -> None:
        """Append events in the handler's transaction; in a replay they exist already."""
        if self.replay:
            self.skipped_emits.extend(events)
            return
        await self.store.append(stream_id, expected, events, conn=self.conn)


Handler = Callable[[Event, HandlerContext], Awaitable[None]]
E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class BatchHandler:
    """A handler that can apply a run of events in one go (a multi-row statement).

    The consumer hands it each run of consecutive records it handles within one batch, in
    log order, in the batch's transaction; alone (a retried record) it gets a run of one.
    It must leave the same state as applying the events one by one. Its context's
    `position` is that of the run's last record: a projection that keeps each event's log
    position stays a plain Handler.
    """

    many: Callable[[Sequence[Event], HandlerContext], Awaitable[None]]

    async def __call__(self, event: Event, ctx: HandlerContext) -> None:
        """Apply one event: a run of one."""
        await self.many([event], ctx)


def typed(cls: type[E], handle: Callable[[E, HandlerContext], Awaitable[None]]) -> Handler:
    """A handler for one event type: it checks the type and passes the typed event on."""

    async def checked(event: Event, ctx: HandlerContext) -> None:
        if not isinstance(event, cls):
            raise TypeError(f"expected {cls.__name__}, got {event.type}")
        await handle(event, ctx)

    return checked


def projecting(
    cls: type[E], apply: Callable[[E, Connection, str], Awaitable[None]]
) -> tuple[str, Handler]:
    """(event type, handler) for a projection step that writes with the handler's connection."""

    async def project(event: E, ctx: HandlerContext) -> None:
        await apply(event, ctx.conn, ctx.store.schema)

    return str(cls.model_fields["type"].default), typed(cls, project)


@dataclass(frozen=True)
class Subscription:
    """A named consumer: the topics it reads and a handler per event type it cares about."""

    name: str
    topics: tuple[str, ...]
    handlers: Mapping[str, Handler]


class DeadLetters:
    """Publishes messages a consumer gave up on, with the reason, to a dead-letter topic.

    Its producer starts with the first dead letter (a service starts without Kafka) and is
    started again after a failed send.
    """

    def __init__(self, producer_factory: ProducerFactory | None, topic: str) -> None:
        self.topic = topic
        self.producer = LazyProducer(producer_factory) if producer_factory else None
        self.skipped: list[tuple[ConsumerRecord, str]] = []

    async def send(self, consumer: str, record: ConsumerRecord, error: str) -> None:
        """Publish the original bytes with headers naming its origin and the error.

        Without a producer (a replay, side effects off) the record is only remembered.
        """
        if self.producer is None:
            self.skipped.append((record, error))
            return
        headers = [
            ("consumer", consumer.encode()),
            ("error", error[:4000].encode()),
            ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
            *[(k, v) for k, v in (record.headers or ()) if k in {"event_id", "type"}],
        ]
        producer = await self.producer.get()
        try:
            await producer.send_and_wait(self.topic, record.value, key=record.key, headers=headers)
        except BaseException:
            await self.producer.close()
            raise
        DEAD_LETTERS.labels(consumer, record.topic).inc()
        log.warning("consumer.dead_letter", consumer=consumer, error=error[:200])

    async def close(self) -> None:
        """Stop the producer, if one was started."""
        if self.producer is not None:
            await self.producer.close()


class MessageProcessor:
    """Applies one Kafka record to the database exactly once (or dead-letters it)."""

    def __init__(
        self,
        subscription: Subscription,
        store: EventStore,
        dead_letters: DeadLetters,
        *,
        now: Callable[[], datetime],
        max_attempts: int = 5,
        retry_base: float = 0.2,
        replay: bool = False,
    ) -> None:
        self.sub, self.store, self.dead_letters, self.now = subscription, store, dead_letters, now
        self.max_attempts, self.retry_base, self.replay = max_attempts, retry_base, replay

    async def process(self, record: ConsumerRecord) -> str:
        """Handle a record; returns the outcome (handled, duplicate, ignored, dead_letter)."""
        try:
            event = decode(record.value)
        except UndecodableEvent as exc:
            return await self._give_up(record, f"undecodable: {exc}")
        handler = self.sub.handlers.get(event.type)
        if handler is None:
            return self._count(record, "ignored")
        try:
            outcome = await self._with_retries(handler, event, record)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # a failing handler must not stop the consumer
            return await self._give_up(record, f"handler failed: {exc!r}")
        return self._count(record, outcome)

    async def process_batch(self, records: Sequence[ConsumerRecord]) -> list[str]:
        """Apply records in one transaction; if any fails, fall back to one at a time."""
        try:
            items = [(record, decode(record.value)) for record in records]
        except UndecodableEvent:
            return [await self.process(record) for record in records]
        done: list[AfterCommit] = []
        try:
            async with self.store.transaction() as conn:
                outcomes = await self._apply_all(conn, items, done)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # retried record by record, with dead letters
            log.info("consumer.batch_fallback", error=repr(exc), records=len(records))
            return [await self.process(record) for record in records]
        _run_after_commit(done)
        crash_point("consumer.after_db_commit")
        return [
            self._count(record, outcome)
            for (record, _), outcome in zip(items, outcomes, strict=True)
        ]

    async def _apply_all(
        self,
        conn: Connection,
        items: Sequence[tuple[ConsumerRecord, Event]],
        done: list[AfterCommit],
    ) -> list[str]:
        wanted = [(r, e) for r, e in items if e.type in self.sub.handlers]
        claimed = await self._claim_many(conn, wanted)
        outcomes = []
        run: list[tuple[ConsumerRecord, Event]] = []  # consecutive events of one BatchHandler
        for record, event in items:
            handler = self.sub.handlers.get(event.type)
            if handler is None:
                outcomes.append("ignored")
            elif event.event_id in claimed:
                claimed.discard(event.event_id)  # a second copy in the same batch is a duplicate
                if run and handler is not self.sub.handlers[run[0][1].type]:
                    done += await self._run_many(run, conn)
                    run = []
                if isinstance(handler, BatchHandler):
                    run.append((record, event))
                else:
                    done += await self._run(handler, event, record, conn)
                outcomes.append("handled")
            else:
                outcomes.append("duplicate")
        if run:
            done += await self._run_many(run, conn)
        return outcomes

    async def _run_many(
        self, run: Sequence[tuple[ConsumerRecord, Event]], conn: Connection
    ) -> list[AfterCommit]:
        """Apply a run of events with their BatchHandler in one call."""
        handler = self.sub.handlers[run[0][1].type]
        assert isinstance(handler, BatchHandler)
        started = time.perf_counter()
        record = run[-1][0]
        ctx = HandlerContext(
            conn, self.store, self.now, replay=self.replay, position=_position(record)
        )
        await handler.many([event for _, event in run], ctx)
        each = (time.perf_counter() - started) / len(run)
        for _, event in run:
            HANDLER_SECONDS.labels(self.sub.name, event.type).observe(each)
        return ctx.committed

    async def _claim_many(
        self, conn: Connection, items: Sequence[tuple[ConsumerRecord, Event]]
    ) -> set[UUID]:
        rows = await conn.fetch(
            f"INSERT INTO {self.store.schema}.inbox (consumer, event_id, topic, partition, "
            '"offset") SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) '
            "ON CONFLICT DO NOTHING RETURNING event_id",
            self.sub.name,
            [e.event_id for _, e in items],
            [r.topic for r, _ in items],
            [r.partition for r, _ in items],
            [r.offset for r, _ in items],
        )
        return {row["event_id"] for row in rows}

    async def _run(
        self, handler: Handler, event: Event, record: ConsumerRecord, conn: Connection
    ) -> list[AfterCommit]:
        started = time.perf_counter()
        structlog.contextvars.bind_contextvars(
            event_id=str(event.event_id),
            client_id=str(event.client_id),
            event_type=event.type,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        ctx = HandlerContext(
            conn, self.store, self.now, replay=self.replay, position=_position(record)
        )
        await handler(event, ctx)
        HANDLER_SECONDS.labels(self.sub.name, event.type).observe(time.perf_counter() - started)
        return ctx.committed

    async def _with_retries(self, handler: Handler, event: Event, record: ConsumerRecord) -> str:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(multiplier=self.retry_base, max=5, jitter=self.retry_base),
            retry=retry_if_not_exception_type(INFRASTRUCTURE_ERRORS),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._apply(handler, event, record)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apply(self, handler: Handler, event: Event, record: ConsumerRecord) -> str:
        async with self.store.transaction() as conn:
            if not await self._claim_many(conn, [(record, event)]):
                return "duplicate"
            done = await self._run(handler, event, record, conn)
        _run_after_commit(done)
        crash_point("consumer.after_db_commit")
        return "handled"

    async def _give_up(self, record: ConsumerRecord, error: str) -> str:
        await self.dead_letters.send(self.sub.name, record, error)
        return self._count(record, "dead_letter")

    def _count(self, record: ConsumerRecord, outcome: str) -> str:
        EVENTS_CONSUMED.labels(self.sub.name, record.topic, outcome).inc()
        return outcome


class ConsumerRunner:
    """Runs one subscription as a member of its Kafka consumer group."""

    def __init__(
        self, processor: MessageProcessor, consumer_factory: Callable[[], AIOKafkaConsumer]
    ) -> None:
        self.processor, self.consumer_factory = processor, consumer_factory
        self.running = False
        for topic in processor.sub.topics:  # at 0 from the start: the first dead letter shows
            DEAD_LETTERS.labels(processor.sub.name, topic)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, committing offsets after each processed batch."""
        while not stop.is_set():
            consumer = self.consumer_factory()
            try:
                await consumer.start()
                self.running = True
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=500, max_records=500)
                    await self._process_batch(consumer, batch)
            except KafkaError as exc:
                log.warning("consumer.kafka_error", error=repr(exc))
                await sleep_or_stop(stop, 1.0)
            finally:
                self.running = False
                await _stop_quietly(consumer)

    async def _process_batch(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        records = [record for part in batch.values() for record in part]
        if records:
            await self._process_until_done(records)
        if batch:
            try:
                await consumer.commit()
            except CommitFailedError as exc:  # a rebalance: the inbox absorbs the redelivery
                log.info("consumer.commit_failed", error=repr(exc))
        await self._record_lag(consumer)

    async def _process_until_done(self, records: Sequence[ConsumerRecord]) -> None:
        attempt = 0
        while True:
            try:
                await self.processor.process_batch(records)
                return
            except INFRASTRUCTURE_ERRORS as exc:
                attempt += 1
                log.warning("consumer.database_unavailable", error=repr(exc), attempt=attempt)
                await asyncio.sleep(backoff(attempt, cap=5.0))
            finally:
                structlog.contextvars.unbind_contextvars(*LOG_CONTEXT)

    async def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        name = self.processor.sub.name
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                position = await consumer.position(tp)
                CONSUMER_LAG.labels(name, tp.topic, str(tp.partition)).set(highwater - position)


def _run_after_commit(actions: Sequence[AfterCommit]) -> None:
    for action in actions:
        try:
            action()
        except Exception as exc:  # the record is applied: a failing metric must not undo that
            log.exception("consumer.after_commit_failed", error=repr(exc))


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except Exception as exc:  # a consumer that lost its broker may fail to leave its group
        log.info("consumer.stop_failed", error=repr(exc))


def _position(record: ConsumerRecord) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)
