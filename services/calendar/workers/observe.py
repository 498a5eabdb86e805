"""Reading the linked calendars: each one every few seconds' worth of its interval, in turn.

A read has a short timeout and runs outside any transaction; what it found is then recorded
with the link row locked: a CalendarObserved when the calendar changed (or the last
observation is getting old), a CalendarUnreachable the first time a read fails. Readers of
these events (the screen pop) never wait for a calendar: they show the last known state and
how old it is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from libs.availability import Interval
from libs.events.calendar import BusySpan, CalendarUnreachable
from libs.events.catalogue import encode
from libs.platform.consumer import INFRASTRUCTURE_ERRORS
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.sealed import SecretBox
from libs.platform.store import EventStore
from libs.platform.ticker import tick_until_stopped
from services.calendar import linking, metrics
from services.calendar.adapters.port import CalendarPort, CalendarUnavailable
from services.calendar.domain import links
from services.calendar.settings import CalendarSettings

log = structlog.get_logger(__name__)
BATCH = 200


@dataclass(frozen=True)
class Read:
    """What one read of a calendar found: its busy spans, or why it failed."""

    client_id: UUID
    version: int
    spans: tuple[BusySpan, ...] | None
    error: str = ""


def worker(config: CalendarSettings, box: SecretBox | None) -> Worker:
    """A worker that reads every linked calendar whose next read is due."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                await observe_due(runtime.store, now, config, box)

        await tick_until_stopped(
            runtime.clock, tick, stop, every=min(config.observe_seconds, 5.0), name="calendar-reads"
        )

    return run


async def observe_due(
    store: EventStore, now: datetime, config: CalendarSettings, box: SecretBox | None
) -> int:
    """Read every calendar due at `now` (a few at a time) and record what was found.

    The rows are claimed first (their next read moved on), so that several instances of the
    service share the reads instead of each reading every calendar.
    """
    schema = store.schema
    rows = await store.pool.fetch(  # claimed: another instance reads the others
        f"UPDATE {schema}.links SET next_read_at = $3 WHERE client_id IN ("
        f"SELECT client_id FROM {schema}.links WHERE linked AND next_read_at <= $1 "
        "ORDER BY next_read_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *",
        now, BATCH, now + timedelta(seconds=config.observe_seconds),
    )  # fmt: skip
    gate = asyncio.Semaphore(config.concurrent_reads)

    async def one(row: asyncpg.Record) -> Read:
        async with gate:
            return await read(row, now, config, box)

    reads = await asyncio.gather(*(one(row) for row in rows))
    for found in reads:
        await record(store, found, now, config)
    if reads:
        await metrics.count_links(store.pool, store.schema)
    return len(reads)


async def read(
    row: asyncpg.Record, now: datetime, config: CalendarSettings, box: SecretBox | None
) -> Read:
    """Read one calendar's busy time for the window ahead, within the read timeout."""
    provider = row["provider"]
    started = time.perf_counter()
    outcome = "ok"
    try:
        port = await linking.checked_adapter(row, box, config)
        async with asyncio.timeout(config.read_timeout_seconds + 1):
            spans = await busy_spans(port, now, now + window(config), row["show_titles"])
        return Read(row["client_id"], row["version"], spans)
    except CalendarUnavailable as exc:
        outcome = "failed"
        return Read(row["client_id"], row["version"], None, str(exc)[:400])
    except TimeoutError:
        outcome = "timeout"
        return Read(row["client_id"], row["version"], None, "the calendar did not answer in time")
    finally:
        metrics.CALENDAR_READ_SECONDS.labels(provider).observe(time.perf_counter() - started)
        metrics.CALENDAR_READS.labels(provider, outcome).inc()


def window(config: CalendarSettings) -> timedelta:
    """How far ahead a read looks."""
    return timedelta(hours=config.window_hours)


async def busy_spans(
    port: CalendarPort, start: datetime, end: datetime, titles: bool
) -> tuple[BusySpan, ...]:
    """The busy time in [start, end): the entries with their titles, or only free/busy."""
    if titles:
        entries = await port.entries(start, end)
        found = [
            BusySpan(start=e.when.start, end=e.when.end, title=e.title[:500])
            for e in entries
            if e.busy
        ]
    else:
        intervals: list[Interval] = await port.busy(start, end)
        found = [BusySpan(start=i.start, end=i.end) for i in intervals]
    return tuple(sorted(found, key=lambda s: (s.start, s.end)))[:200]


async def record(store: EventStore, found: Read, now: datetime, config: CalendarSettings) -> None:
    """Record one read with the link row locked (a link changed meanwhile is read again)."""
    schema = store.schema
    next_read = now + timedelta(seconds=config.observe_seconds)
    try:
        async with store.transaction() as conn:
            row = await linking.lock(conn, schema, found.client_id)
            if row is None or not row["linked"] or row["version"] != found.version:
                return
            link = linking.link_of(row)
            assert link is not None
            stream = linking.observations_stream(found.client_id)
            if found.spans is None:
                if row["unreachable_since"] is None:
                    down = CalendarUnreachable(
                        client_id=found.client_id, occurred_at=now, since=now, error=found.error
                    )
                    await store.append(stream, None, [down], conn=conn)
                    log.warning(
                        "calendar.unreachable", client_id=str(found.client_id), error=found.error
                    )
                await conn.execute(
                    f"UPDATE {schema}.links SET last_read_at = $2, last_read_ok = false, "
                    "last_error = $3, next_read_at = $4, "
                    "unreachable_since = coalesce(unreachable_since, $2) WHERE client_id = $1",
                    found.client_id, now, found.error, next_read,
                )  # fmt: skip
                return
            record_it = links.worth_recording(
                found.spans,
                last_digest=row["observed_digest"],
                last_recorded_at=row["observed_at"],
                now=now,
                heartbeat=timedelta(seconds=config.heartbeat_seconds),
                was_unreachable=row["unreachable_since"] is not None,
            )
            if record_it:
                event = links.observation(link, now, now + window(config), found.spans)
                await store.append(stream, None, [event], conn=conn)
                await conn.execute(
                    f"UPDATE {schema}.links SET observed_digest = $2, observed_at = $3, "
                    "observed = $4::jsonb WHERE client_id = $1",
                    found.client_id, links.digest(found.spans), now, encode(event).decode(),
                )  # fmt: skip
            await conn.execute(
                f"UPDATE {schema}.links SET last_read_at = $2, last_read_ok = true, "
                "last_error = '', next_read_at = $3, unreachable_since = NULL "
                "WHERE client_id = $1",
                found.client_id, now, next_read,
            )  # fmt: skip
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:  # one calendar's bad answer must not stop the others' reads
        log.exception("calendar.record_failed", client_id=str(found.client_id), error=repr(exc))
