"""Routing's workers: escalation timers, and the roster gauge.

Timers are rows in PostgreSQL (escalations.due_at); the timer loop only decides when to look,
every few seconds and whenever the clock moves. The roster gauge is counted from the roster
table on the same rhythm, so it is right from the start and whichever replica changed it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.routing import escalations, metrics
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


def roster_gauge_worker(config: RoutingSettings) -> Worker:
    """A worker that counts the roster into the operators gauge, at start and then regularly."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(_: datetime) -> None:
            if runtime.store is not None:
                await metrics.count_roster(runtime.store.pool, runtime.store.schema)

        await tick_until_stopped(
            runtime.clock, tick, stop, every=config.roster_gauge_seconds, name="roster-gauge"
        )

    return run
