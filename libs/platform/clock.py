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
import structlog

from libs.platform.db import Connection
from libs.platform.listen import CONNECT_SECONDS, Listening
from libs.platform.outages import ServiceUnavailable

CLOCK_SCHEMA = "frontdesk_clock"
CLOCK_CHANNEL = "frontdesk_clock"
Listener = Callable[[datetime], Awaitable[None]]
log = structlog.get_logger(__name__)


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
    """The simulation clock shared by every process, kept in PostgreSQL.

    It follows the clock row through LISTEN/NOTIFY on a connection that reconnects after a
    PostgreSQL restart; on every reconnect and every few seconds it reads the row again, so a
    notification lost while the connection was down delays a move by moments, never forever.
    """

    def __init__(self, dsn: str, *, sweep_seconds: float = 2.0) -> None:
        self.dsn = dsn
        self._now: datetime | None = None
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._listening = Listening(
            dsn, CLOCK_CHANNEL, self._notified, resync=self._read, sweep=self._read,
            sweep_seconds=sweep_seconds,
        )  # fmt: skip

    async def start(self) -> None:
        """Create the clock if needed and read it; `follow` then keeps it current."""
        conn = await asyncpg.connect(self.dsn, timeout=CONNECT_SECONDS)
        try:
            await ensure_clock_table(conn)
            self.observe(await read_clock(conn))
        finally:
            await conn.close()

    async def follow(self, stop: asyncio.Event) -> None:
        """Follow the clock's changes until `stop` is set, reconnecting as needed."""
        await self._listening.run(stop)

    @property
    def following(self) -> bool:
        """Whether the clock is connected to its row and hears of every move."""
        return self._listening.connected

    def now(self) -> datetime:
        """The simulated instant as last seen."""
        if self._now is None:
            raise ServiceUnavailable("the shared clock has not been read yet")
        return self._now

    def on_change(self, listener: Listener) -> None:
        """Call `listener(new_now)` whenever the clock moves (timers use this)."""
        self._listeners.append(listener)

    def observe(self, instant: datetime) -> datetime:
        """Take a value read from the clock row; a move forward wakes the listeners."""
        instant = _aware(instant)
        if self._now is not None and instant <= self._now:
            return self._now
        self._now = instant
        for listener in self._listeners:
            task = asyncio.get_running_loop().create_task(_tell(listener, instant))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return instant

    async def _read(self, conn: Connection) -> None:
        self.observe(await read_clock(conn))

    def _notified(self, payload: str) -> None:
        try:
            self.observe(datetime.fromisoformat(payload))
        except ValueError:  # not ours: the next sweep reads the row itself
            log.warning("clock.odd_notification", payload=payload[:100])


async def _tell(listener: Listener, instant: datetime) -> None:
    try:
        await listener(instant)
    except Exception:  # one failing listener must not keep the clock from the others
        log.exception("clock.listener_failed")


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
