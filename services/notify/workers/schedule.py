"""The schedule worker: each client's daily digest once its time has passed, and the morning
voicemail summaries, checked every few seconds and whenever the simulation clock moves.

A digest whose time passed while notify was down (or its clock jumped ahead) is made when
the schedule next runs, for its own day and oldest day first, so each day's calls stay in
that day's digest; `digest_runs` (unique per client and day) makes every day's run once.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import asyncpg
import structlog

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.notify import commands, directory, metrics, read_model
from services.notify.domain.model import Client
from services.notify.domain.plan import digests_due, earliest_digest_day
from services.notify.domain.schedule import local_day
from services.notify.notifier import Notifier, store_of

log = structlog.get_logger(__name__)


def worker(notifier: Notifier) -> Worker:
    """The loop that runs due digests and summaries on the service's clock."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            await run_schedule(rt, notifier, now)

        every = notifier.settings.schedule_seconds
        await tick_until_stopped(rt.clock, tick, stop, every=every, name="notify-schedule")

    return run


async def run_schedule(rt: ServiceRuntime, notifier: Notifier, now: datetime) -> None:
    """Create every digest that is due at `now` (missed days first), then the summaries."""
    store = store_of(rt)
    pool, schema = store.pool, store.schema
    window = notifier.settings.digest_catch_up_days
    clients = await directory.digest_clients(pool, schema)
    done = await read_model.digest_days(pool, schema, earliest_digest_day(now, window))
    for client in clients:
        for day in digests_due(client, now, done.get(client.client_id, set()), window):
            await _digest(pool, schema, notifier, client, day, now)
    await commands.voicemail_summaries(pool, schema, notifier, now)


async def _digest(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, client: Client, day: date, now: datetime
) -> None:
    outcome = await commands.run_digest(pool, schema, notifier, client, day, now)
    caught_up = day < local_day(now, client.office_hours)
    if caught_up and outcome.created:
        metrics.DIGESTS_CAUGHT_UP.inc()
    log.info(
        "digest.ran",
        client_id=str(client.client_id),
        day=str(outcome.day),
        calls=outcome.calls,
        caught_up=caught_up,
    )
