"""Counts, on intake's clock, the clients waiting past half a working day since their form."""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.intake import metrics, read_onboarding

EVERY_SECONDS = 15.0


def worker(every: float = EVERY_SECONDS) -> Worker:
    """The loop that keeps the waiting-over-target gauge current (and at each clock move)."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        store = rt.require_store()

        async def count(now: datetime) -> None:
            late = await read_onboarding.waiting_past_due(store.pool, store.schema, now)
            metrics.WAITING_OVER_TARGET.set(late)

        await tick_until_stopped(rt.clock, count, stop, every=every, name="onboarding-waits")

    return run
