"""Waiting until the stack is quiet: ready, outboxes empty, consumers caught up, mail sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from aiokafka.errors import KafkaError

from libs.devstack.chaos import observe
from libs.devstack.chaos.world import Context
from libs.events.catalogue import ALL_SERVICES
from libs.platform.clock import set_clock

DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
KAFKA_ERRORS = (KafkaError, OSError, TimeoutError)
CALM_ROUNDS = 2
"""Rounds in a row with nothing left to do: one quiet moment can fall between two steps."""


@dataclass(frozen=True)
class Settled:
    """How a wait for quiet ended: how long it took and what was still pending at the end."""

    what: str
    seconds: float
    pending: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Everything became quiet in time."""
        return not self.pending


async def settle(ctx: Context, what: str, calls: Collection[UUID] = ()) -> Settled:
    """Wait (up to the run's settle time) until nothing is left to do anywhere."""
    started = time.monotonic()
    calm, pending = 0, []
    while time.monotonic() - started < ctx.options.settle_seconds:
        pending = await pending_work(ctx, calls)
        calm = 0 if pending else calm + 1
        if calm >= CALM_ROUNDS:
            return Settled(what, time.monotonic() - started)
        await asyncio.sleep(1)
    return Settled(what, time.monotonic() - started, tuple(pending))


async def pending_work(ctx: Context, calls: Collection[UUID]) -> list[str]:
    """Everything that is not yet done; empty when the stack is quiet."""
    pending = await _not_ready(ctx)
    pending += await _database_work(ctx, calls)
    try:
        lag = await observe.consumer_lag(ctx.stack.bootstrap)
    except KAFKA_ERRORS as exc:
        return [*pending, f"kafka: {exc!r}"]
    return pending + [f"consumer group {g} {n} behind" for g, n in lag.items() if n]


async def _not_ready(ctx: Context) -> list[str]:
    pending = []
    for service in ALL_SERVICES:
        answer = await ctx.watcher.get(ctx.url(service, "/health/ready"), "GET /health/ready")
        if not answer.ok:
            pending.append(f"{service} not ready: {answer.describe()} {answer.body}")
    return pending


async def _database_work(ctx: Context, calls: Collection[UUID]) -> list[str]:
    try:
        async with observe.database(ctx.stack.dsn) as conn:
            outbox = await observe.outbox_rows(conn)
            queued = await observe.send_queue(conn)
            known = await observe.known_calls(conn, calls)
    except DB_ERRORS as exc:
        return [f"database: {exc!r}"]
    pending = [f"{s}.outbox holds {n} rows" for s, n in outbox.items() if n]
    pending += [f"notify has {queued} notifications to send"] if queued else []
    return pending + [
        f"{s} knows {n} of {len(calls)} calls" for s, n in known.items() if n < len(calls)
    ]


async def move_clock(ctx: Context, to: datetime, tries: int = 10) -> None:
    """Set the shared clock in the database; the services must follow by themselves."""
    for attempt in range(tries):
        try:
            async with observe.database(ctx.stack.dsn) as conn:
                await set_clock(conn, to)
            return
        except DB_ERRORS:
            if attempt == tries - 1:
                raise
            await asyncio.sleep(1)


async def stale_clocks(
    ctx: Context, within: float = 20, *, reachable_only: bool = False
) -> dict[str, str]:
    """Services whose `GET /clock` still differs from the database's clock after `within` s."""
    # reachable_only leaves out a service that does not answer: it is being started again,
    # and a new process reads the clock afresh.
    deadline = time.monotonic() + within
    while True:
        stale = await _clock_differences(ctx, reachable_only)
        if not stale or time.monotonic() > deadline:
            return stale
        await asyncio.sleep(0.5)


async def _clock_differences(ctx: Context, reachable_only: bool) -> dict[str, str]:
    expected = await observe.database_clock(ctx.stack.dsn)
    stale: dict[str, str] = {}
    for service in ALL_SERVICES:
        answer = await ctx.watcher.get(ctx.url(service, "/clock"), "GET /clock")
        if not answer.ok and reachable_only and answer.status is None:
            continue
        seen = datetime.fromisoformat(answer.body["now"]) if answer.ok else None
        if seen != expected:
            shown = seen.isoformat() if seen else answer.describe()
            stale[service] = f"shows {shown}, the database {expected.isoformat()}"
    return stale
