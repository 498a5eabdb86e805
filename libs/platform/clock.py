"""One clock for all of Frontdesk.

Every service takes "now" from a Clock. In production it is the system clock. In simulation
mode all services read one shared clock kept in PostgreSQL: it stands still until a test or a
member of staff sets or advances it (like a payment provider's test clock), and every process
sees the change within moments through LISTEN/NOTIFY, so a month of calls, digests,
escalation timeouts and an invoice run can be scripted in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg

from libs.platform.db import Connection

CLOCK_SCHEMA = "frontdesk_clock"
CLOCK_CHANNEL = "frontdesk_clock"
Listener = Callable[[datetime], Awaitable[None]]


class Clock(Protocol):
    """Where every service reads the current time (timezone-aware UTC)."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current instant, from the operating system."""
        return datetime.now(UTC)


class ClockWentBackwards(ValueError):
    """A simulation clock only moves forward, like the time it stands for."""


class FixedClock:
    """A clock that moves only when told to: for pure tests."""

    def __init__(self, start: datetime) -> None:
        self._now = _aware(start)

    def now(self) -> datetime:
        """The instant the clock was last set to."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`."""
        return self.set(self._now + delta)

    def set(self, instant: datetime) -> datetime:
        """Move forward to `instant`."""
        instant = _aware(instant)
        if instant < self._now:
            raise ClockWentBackwards(f"{instant.isoformat()} is before {self._now.isoformat()}")
        self._now = instant
        return instant


class SharedClock:
    """The simulation clock shared by every process, kept in PostgreSQL."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._now: datetime | None = None
        self._conn: Connection | None = None
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._reading = asyncio.Lock()  # one connection: notifications and callers take turns

    async def start(self) -> None:
        """Create the clock if needed, read it, and follow its changes."""
        self._conn = await asyncpg.connect(self.dsn)
        await ensure_clock_table(self._conn)
        await self._conn.add_listener(CLOCK_CHANNEL, self._changed)
        await self.refresh()

    async def stop(self) -> None:
        """Stop following the clock."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def now(self) -> datetime:
        """The simulated instant as last seen."""
        if self._now is None:
            raise RuntimeError("the shared clock has not been started")
        return self._now

    def on_change(self, listener: Listener) -> None:
        """Call `listener(new_now)` whenever the clock moves (timers use this)."""
        self._listeners.append(listener)

    async def refresh(self) -> datetime:
        """Read the clock now rather than waiting for its notification."""
        assert self._conn is not None
        async with self._reading:
            self._now = await read_clock(self._conn)
        return self._now

    def _changed(self, *_: object) -> None:
        task = asyncio.get_running_loop().create_task(self._after_change())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_change(self) -> None:
        instant = await self.refresh()
        for listener in self._listeners:
            await listener(instant)


async def ensure_clock_table(conn: Connection) -> None:
    """Create the one-row clock table, starting at the real current time."""
    await conn.execute(
        f"""
        CREATE SCHEMA IF NOT EXISTS {CLOCK_SCHEMA};
        CREATE TABLE IF NOT EXISTS {CLOCK_SCHEMA}.clock (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            now timestamptz NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO {CLOCK_SCHEMA}.clock (now) VALUES (now()) ON CONFLICT DO NOTHING;
        """
    )


async def read_clock(conn: Connection) -> datetime:
    """The shared simulated instant."""
    value = await conn.fetchval(f"SELECT now FROM {CLOCK_SCHEMA}.clock")
    return _aware(value)


async def set_clock(conn: Connection, instant: datetime) -> datetime:
    """Move the shared clock forward to `instant` and tell every process."""
    instant = _aware(instant)
    async with conn.transaction():
        await ensure_clock_table(conn)
        current = _aware(await conn.fetchval(f"SELECT now FROM {CLOCK_SCHEMA}.clock FOR UPDATE"))
        if instant < current:
            raise ClockWentBackwards(f"{instant.isoformat()} is before {current.isoformat()}")
        await conn.execute(f"UPDATE {CLOCK_SCHEMA}.clock SET now = $1, updated_at = now()", instant)
        await conn.execute("SELECT pg_notify($1, $2)", CLOCK_CHANNEL, instant.isoformat())
    return instant


async def advance_clock(conn: Connection, delta: timedelta) -> datetime:
    """Move the shared clock forward by `delta` (atomically) and tell every process."""
    if delta < timedelta(0):
        raise ClockWentBackwards("a clock cannot be advanced by a negative amount")
    async with conn.transaction():
        await ensure_clock_table(conn)
        instant = _aware(
            await conn.fetchval(
                f"UPDATE {CLOCK_SCHEMA}.clock SET now = now + $1, updated_at = now() RETURNING now",
                delta,
            )
        )
        await conn.execute("SELECT pg_notify($1, $2)", CLOCK_CHANNEL, instant.isoformat())
    return instant


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return instant.astimezone(UTC)
