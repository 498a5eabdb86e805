"""The roster gauge: operators by language and presence, counted from the roster table.

Counted at start and then regularly, so it is right whichever replica changed the roster.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.routing import metrics
from services.routing.settings import RoutingSettings


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
