"""The escalation timers: each open escalation's next step falls due at its row's due_at.

Timers are rows in PostgreSQL (escalations.due_at); the timer loop only decides when to look,
every few seconds and whenever the clock moves.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from uuid import UUID

import structlog

from libs.platform.consumer import INFRASTRUCTURE_ERRORS
from libs.platform.faults import crash_point
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.store import EventStore
from libs.platform.ticker import tick_until_stopped
from services.routing import commands, escalations, links
from services.routing.commands import Outcome
from services.routing.settings import RoutingSettings

log = structlog.get_logger(__name__)


def timer_worker(config: RoutingSettings) -> Worker:
    """A worker that moves on every escalation whose acknowledgement is overdue."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                await fire_due(runtime.store, now, limit=config.timer_batch_size, config=config)

        await tick_until_stopped(
            runtime.clock, tick, stop, every=config.timer_poll_seconds, name="escalation-timers"
        )

    return run


async def fire_due(store: EventStore, now: datetime, *, limit: int, config: RoutingSettings) -> int:
    """Move on every escalation whose timer is due at `now`, one transaction each."""
    passed: list[UUID] = []
    fired = 0
    while fired + len(passed) < limit:
        found = await _fire_one(store, now, passed, config)
        if found is None:
            break
        escalation_id, outcome = found
        if outcome is not None and outcome.events:
            fired += 1
            commands.recorded(outcome)
        else:  # still waiting for its book, or failing: the others must not wait behind it
            passed.append(escalation_id)
    return fired


async def _fire_one(
    store: EventStore, now: datetime, passed: list[UUID], config: RoutingSettings
) -> tuple[UUID, Outcome | None] | None:
    """The next due timer and what firing it recorded (None: it failed and was rolled back)."""
    found: UUID | None = None
    try:
        async with store.transaction() as conn:
            found = await escalations.next_due(conn, store.schema, now, passed)
            if found is None:
                return None
            emit = links.stamping(config, partial(store.append, conn=conn))
            outcome = await commands.advance(conn, store.schema, found, now, emit)
            if outcome.events:
                crash_point("routing.timer.before_commit")
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:  # one broken escalation must not hold up every other timer
        if found is None:
            raise
        log.exception("escalation.timer_failed", escalation_id=str(found), error=repr(exc))
        return found, None
    return found, outcome
