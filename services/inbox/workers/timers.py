"""The conversation timers: open conversations given to a reader of their language, overdue
ones escalated; rows in PostgreSQL, looked at every few seconds and when the clock moves."""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.inbox import conversations, metrics
from services.inbox.settings import InboxSettings


def worker(config: InboxSettings) -> Worker:
    """A worker that keeps the conversations moving."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            store = runtime.store
            if store is not None:
                await conversations.escalate_overdue(store, now)
                await conversations.assign_open(store, now)
                await metrics.count_conversations(store.pool, store.schema, now)

        await tick_until_stopped(
            runtime.clock, tick, stop, every=config.timer_poll_seconds, name="inbox-timers"
        )

    return run
