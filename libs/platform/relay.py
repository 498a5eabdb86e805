"""The outbox relay: publishes a service's outbox to Kafka, at least once, in order per key.

Exactly one relay per service is active: it holds a session advisory lock; the others wait
as standbys. Rows are deleted only after Kafka acknowledged them (acks=all), so a crash or a
broker outage loses nothing; a crash between the acknowledgement and the delete republishes
the batch, which the consumers' inboxes absorb.

A row Kafka refuses for good (too large, an invalid record) would block every row after it
forever; it is moved to the `outbox_parked` table with the error instead, counted and alerted
on (FrontdeskRelayParked), and the relay goes on. The broker refuses a whole record batch for
one record in it, so the rows of a refused batch are sent again one by one first, and only a
row refused on its own is parked. Any other failure retries the whole batch.
"""

from __future__ import annotations

import asyncio
import time
from enum import StrEnum
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

from libs.platform.db import Connection, advisory_key
from libs.platform.faults import crash_point
from libs.platform.kafka import LazyProducer, ProducerFactory
from libs.platform.listen import CONNECT_SECONDS
from libs.platform.metrics import (
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_PARKED,
    RELAY_ACTIVE,
    RELAY_ERRORS,
    RELAY_PARKED,
)
from libs.platform.outages import backoff, is_outage, sleep_or_stop
from libs.platform.store import outbox_channel

log = structlog.get_logger(__name__)
REFUSED_FOR_GOOD: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
)
"""What Kafka answers a record that no retry will get through."""
GAUGE_SECONDS = 5.0
"""How often a busy relay counts its backlog for the gauges."""
Refusals = dict[int, str]
"""Outbox row id -> why Kafka refused that row for good."""


class RelayState(StrEnum):
    """What the relay is doing, for readiness and the relay-state metric."""

    STARTING = "starting"
    STANDBY = "standby"
    ACTIVE = "active"
    DEGRADED = "degraded"
    STOPPED = "stopped"


class OutboxRelay:
    """Moves outbox rows of one schema to Kafka while holding the schema's relay lock."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        service: str,
        producer_factory: ProducerFactory,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
    ) -> None:
        self.dsn, self.schema, self.service = dsn, schema, service
        self.producer_factory = producer_factory
        self.batch_size, self.poll_seconds = batch_size, poll_seconds
        self.state = RelayState.STARTING
        self._wake = asyncio.Event()
        self._producer = LazyProducer(producer_factory)
        self._gauges_due = 0.0
        for counted in (RELAY_ERRORS, RELAY_PARKED):  # at 0 from the start: the first shows
            counted.labels(service)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; reconnects to PostgreSQL and Kafka as needed.

        Any error ends the connection (and with it the lock) and starts over: a socket cut
        mid-query leaves asyncpg in states it cannot leave ("cannot switch to state ..."), so
        no error is trusted to leave the connection usable. On reconnect the backlog is read
        again at once; a poll every `poll_seconds` catches a lost notification.
        """
        attempt = 0
        try:
            while not stop.is_set():
                try:
                    await self._run_with_lock(stop)
                except Exception as exc:  # whatever it was, the relay carries on
                    attempt = attempt + 1 if self.state != RelayState.ACTIVE else 1
                    self._failed(exc)
                    await sleep_or_stop(stop, backoff(attempt, cap=5.0))
        finally:
            await self._producer.close()
            self._set_state(RelayState.STOPPED)

    def _failed(self, exc: Exception) -> None:
        RELAY_ERRORS.labels(self.service).inc()
        event = "relay.database_unavailable" if is_outage(exc) else "relay.failed"
        log.warning(event, error=repr(exc))
        self._set_state(RelayState.DEGRADED)

    async def _run_with_lock(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=CONNECT_SECONDS)
        try:
            while not stop.is_set():
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key()):
                    break
                self._set_state(RelayState.STANDBY)
                await sleep_or_stop(stop, self.poll_seconds)
            else:
                return
            await conn.add_listener(outbox_channel(self.schema), self._notified)
            self._set_state(RelayState.ACTIVE)
            await self._publish_loop(conn, stop)
        finally:
            conn.terminate()  # closing politely could wait on a dead socket

    def _lock_key(self) -> int:
        return advisory_key(self.schema, "relay")

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _publish_loop(self, conn: Connection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            published = await self._publish_batch(conn)
            if published < self.batch_size:
                await self._wait_for_work(stop)

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()

    async def _publish_batch(self, conn: Connection) -> int:
        rows = await conn.fetch(
            f"SELECT id, event_id, event_type, topic, key, value FROM {self.schema}.outbox "
            "ORDER BY id LIMIT $1",
            self.batch_size,
        )
        refused = await self._send(rows) if rows else None
        if refused is not None:
            crash_point("relay.after_send")
            await self._settle(conn, rows, refused)
        if len(rows) < self.batch_size or time.monotonic() >= self._gauges_due:
            await self._count_backlog(conn)
        return len(rows)

    async def _count_backlog(self, conn: Connection) -> None:
        """Set the backlog gauges: when caught up, and at most every GAUGE_SECONDS while busy
        (counting a long backlog after every batch would cost more than the batch)."""
        backlog = await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox")
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        parked = await conn.fetchval(f"SELECT count(*) FROM {self.schema}.outbox_parked")
        OUTBOX_PARKED.labels(self.service).set(parked)
        self._gauges_due = time.monotonic() + GAUGE_SECONDS

    async def _settle(
        self, conn: Connection, rows: list[asyncpg.Record], refused: Refusals
    ) -> None:
        """Park the rows Kafka refused for good and delete the published ones, in one go."""
        published = [r for r in rows if r["id"] not in refused]
        async with conn.transaction():
            for row_id, error in refused.items():
                await self._park(conn, row_id, error)
            await conn.execute(
                f"DELETE FROM {self.schema}.outbox WHERE id = ANY($1::bigint[])",
                [r["id"] for r in published],
            )
        for row in published:
            EVENTS_PUBLISHED.labels(self.service, row["topic"]).inc()

    async def _park(self, conn: Connection, row_id: int, error: str) -> None:
        moved = await conn.fetchrow(
            f"""
            WITH moved AS (DELETE FROM {self.schema}.outbox WHERE id = $1 RETURNING *)
            INSERT INTO {self.schema}.outbox_parked
                (id, event_id, event_type, topic, key, value, created_at, error)
            SELECT id, event_id, event_type, topic, key, value, created_at, $2 FROM moved
            RETURNING event_id, event_type
            """,
            row_id,
            error[:2000],
        )
        if moved is not None:  # None: the row left the outbox meanwhile
            RELAY_PARKED.labels(self.service).inc()
            event_id, kind = str(moved["event_id"]), moved["event_type"]
            log.error("relay.parked", event_id=event_id, type=kind, error=error[:300])

    async def _send(self, rows: list[asyncpg.Record]) -> Refusals | None:
        """Send a batch and wait for every answer: the rows refused for good, None to retry."""
        try:
            producer = await self._producer.get()
            refused, suspects = await _publish(producer, rows)
            if suspects:
                refused |= await self._isolate(suspects)
        except Exception as exc:  # any other Kafka failure: retry the whole batch
            RELAY_ERRORS.labels(self.service).inc()
            log.warning("relay.publish_failed", error=repr(exc), batch=len(rows))
            self._set_state(RelayState.DEGRADED)
            await self._producer.close()
            await asyncio.sleep(1.0)
            return None
        self._set_state(RelayState.ACTIVE)
        return refused

    async def _isolate(self, suspects: list[asyncpg.Record]) -> Refusals:
        """Send each row the broker refused on its own: it refuses a whole batch of records
        for one too large, so only the rows it still refuses alone are refused for good.

        Each goes from a fresh producer: a refusal may leave a producer's sequence behind.
        """
        refused: Refusals = {}
        for row in suspects:
            await self._producer.close()
            producer = await self._producer.get()
            try:
                await (await producer.send(*_message(row)))
            except REFUSED_FOR_GOOD as exc:
                refused[row["id"]] = repr(exc)
        await self._producer.close()
        return refused

    def _set_state(self, state: RelayState) -> None:
        if state != self.state:
            log.info("relay.state", state=str(state))
        self.state = state
        RELAY_ACTIVE.labels(self.service).set(1 if state == RelayState.ACTIVE else 0)


async def _publish(
    producer: AIOKafkaProducer, rows: list[asyncpg.Record]
) -> tuple[Refusals, list[asyncpg.Record]]:
    """Send every row and wait for every answer: the rows the producer itself refused for
    good, and those the broker refused (with every other row of their record batch).

    Any other failure is raised once every answer is in, so the batch is retried whole.
    """
    sent: list[tuple[asyncpg.Record, Any]] = []
    refused: Refusals = {}
    for row in rows:
        try:
            sent.append((row, await producer.send(*_message(row))))
        except REFUSED_FOR_GOOD as exc:  # checked by the client before anything is sent
            refused[row["id"]] = repr(exc)
    answers = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    suspects = []
    for (row, _), answer in zip(sent, answers, strict=True):
        if isinstance(answer, REFUSED_FOR_GOOD):
            suspects.append(row)
        elif isinstance(answer, BaseException):
            raise answer
    return refused, suspects


def _message(row: asyncpg.Record) -> tuple[str, bytes, bytes, None, None, list[tuple[str, bytes]]]:
    headers = [("event_id", str(row["event_id"]).encode()), ("type", row["event_type"].encode())]
    return (row["topic"], bytes(row["value"]), row["key"].encode(), None, None, headers)
