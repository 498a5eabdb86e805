"""Run due work on time: every few seconds, and at once whenever the simulation clock moves.

Timers themselves live in PostgreSQL (a row with a due time); a ticker only decides when to
look for due rows, so a restart loses no timer and, with the row's state changed in the same
transaction as the work's events, fires none twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from libs.platform.clock import Clock, SharedClock
from libs.platform.metrics import TICKS

log = structlog.get_logger(__name__)
Tick = Callable[[datetime], Awaitable[None]]


async def tick_until_stopped(
    clock: Clock, tick: Tick, stop: asyncio.Event, *, every: float = 1.0, name: str = "ticker"
) -> None:
    """Call `tick(now)` every `every` seconds and right after each move of a shared clock."""
    moved = asyncio.Event()
    if isinstance(clock, SharedClock):
        clock.on_change(lambda _: _set(moved))
    while not stop.is_set():
        moved.clear()
        try:
            await tick(clock.now())
        except Exception as exc:  # a failing tick is logged and tried again next time
            log.exception("ticker.failed", ticker=name, error=repr(exc))
        TICKS.labels(name).inc()  # tests wait for a round instead of sleeping
        await _wait_any(stop, moved, every)


async def _set(event: asyncio.Event) -> None:
    event.set()


async def _wait_any(stop: asyncio.Event, moved: asyncio.Event, seconds: float) -> None:
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(moved.wait())}
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
