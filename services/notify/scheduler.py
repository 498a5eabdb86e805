"""The schedule worker: each client's daily digest once its time has passed, and the morning
voicemail summaries, checked every few seconds and whenever the simulation clock moves."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.notify import directory, planner
from services.notify.domain import digest_due
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
    """Create every digest that is due at `now`, then the voicemail summaries."""
    store = store_of(rt)
    pool, schema = store.pool, store.schema
    clients = await directory.clients_in_mode(pool, schema, "daily_digest")
    since = now.date() - timedelta(days=2)  # covers every timezone's "today"
    done = await planner.digest_days(pool, schema, since)
    for client in clients:
        day = digest_due(client, now, done.get(client.client_id, set()))
        if day is not None:
            outcome = await planner.run_digest(pool, schema, notifier, client, day, now)
            log.info(
                "digest.ran",
                client_id=str(client.client_id),
                day=str(outcome.day),
                calls=outcome.calls,
            )
    await planner.voicemail_summaries(pool, schema, notifier, now)
