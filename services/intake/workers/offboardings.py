"""Offboards, on intake's clock, each client whose chosen moment of leaving has come."""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.errors import Conflict
from libs.events import SYSTEM
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.ticker import tick_until_stopped
from services.intake import read_model
from services.intake.commands import execute
from services.intake.domain.commands import OffboardClient
from services.intake.settings import IntakeSettings

EVERY_SECONDS = 5.0


def worker(config: IntakeSettings, every: float = EVERY_SECONDS) -> Worker:
    """The loop that records ClientOffboarded once `effective_at` has come (and at clock moves)."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        store = rt.require_store()

        async def offboard_due(now: datetime) -> None:
            for row in await read_model.offboardings_due(store.pool, store.schema, now):
                command = OffboardClient(client_id=row.client_id, at=now, actor=SYSTEM,
                                         reason=row.offboard_reason or "",
                                         quarantine=config.number_quarantine,
                                         scheduled=True)  # fmt: skip
                try:
                    await execute(store, command)
                except Conflict:  # another instance was first, or the departure was cancelled
                    continue

        await tick_until_stopped(rt.clock, offboard_due, stop, every=every, name="offboardings")

    return run
