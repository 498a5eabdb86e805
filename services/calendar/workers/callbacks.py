"""The callback timers: due callbacks assigned, overdue ones escalated, blocks kept current.

Timers are rows (callbacks.due_at); the loop only decides when to look: every few seconds
and whenever the clock moves. The callback block in a client's calendar is written outside
any transaction, after the list changed (links.block_dirty) or once the block it was in has
passed; a failed write is tried again on the next tick.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.sealed import SecretBox
from libs.platform.store import EventStore
from libs.platform.ticker import tick_until_stopped
from services.calendar import block_sync, callbacks, metrics
from services.calendar.settings import CalendarSettings

log = structlog.get_logger(__name__)


def worker(config: CalendarSettings, box: SecretBox | None) -> Worker:
    """A worker that keeps the callback list moving."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                await step(runtime.store, now, config, box)

        await tick_until_stopped(
            runtime.clock, tick, stop, every=config.timer_poll_seconds, name="callback-timers"
        )

    return run


async def step(
    store: EventStore, now: datetime, config: CalendarSettings, box: SecretBox | None
) -> None:
    """One round: assign what fell due, escalate what is overdue, write changed blocks."""
    await callbacks.assign_due(store, now)
    await callbacks.escalate_overdue(store, now, config.callback_grace)
    await metrics.count_callbacks(store.pool, store.schema, now, config.callback_grace)
    await block_sync.sync_due(store, now, config, box)
