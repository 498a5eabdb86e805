"""The escalation timer worker: fires due timers every few seconds and whenever the clock moves.

Timers are rows in PostgreSQL (escalations.due_at); this loop only decides when to look.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.routing import escalations
from services.routing.settings import RoutingSettings


def timer_worker(config: RoutingSettings) -> Worker:
    """A worker that moves on every escalation whose acknowledgement is overdue."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                await escalations.fire_due(
                    runtime.store, now, limit=config.timer_batch_size, config=config
                )

        await tick_until_stopped(
            runtime.clock, tick, stop, every=config.timer_poll_seconds, name="escalation-timers"
        )

    return run
