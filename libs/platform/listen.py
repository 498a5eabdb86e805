"""A LISTEN connection that comes back after PostgreSQL does.

A notification sent while the connection was down is lost for good, so whatever is listened
for is read again on every (re)connect (`resync`), and a periodic `sweep` on the same
connection both notices a dead socket and catches anything a notification did not bring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from libs.platform.db import Connection
from libs.platform.outages import DATABASE_OUTAGES, backoff, sleep_or_stop

log = structlog.get_logger(__name__)
OnNotify = Callable[[str], None]
"""Called with the notification's payload."""
Resync = Callable[[Connection], Awaitable[None]]
"""Reads again what is listened for, on the listening connection."""
CONNECT_SECONDS = 5.0


async def _ping(conn: Connection) -> None:
    await conn.fetchval("SELECT 1")


class Listening:
    """Keeps one connection LISTENing on a channel, reconnecting with backoff."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notify: OnNotify,
        *,
        resync: Resync | None = None,
        sweep: Resync = _ping,
        sweep_seconds: float = 2.0,
    ) -> None:
        self.dsn, self.channel, self.on_notify = dsn, channel, on_notify
        self.resync, self.sweep, self.sweep_seconds = resync, sweep, sweep_seconds
        self.connected = False
        self._attempts = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set; an outage is waited out, anything else is raised."""
        while not stop.is_set():
            try:
                await self._listen(stop)
            except DATABASE_OUTAGES as exc:
                self._attempts += 1
                log.warning("listen.reconnecting", channel=self.channel, error=repr(exc))
                await sleep_or_stop(stop, backoff(self._attempts, cap=5.0))

    async def _listen(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=CONNECT_SECONDS)
        try:
            await conn.add_listener(self.channel, self._notified)
            if self.resync is not None:
                await self.resync(conn)
            self.connected, self._attempts = True, 0
            while not await sleep_or_stop(stop, self.sweep_seconds):
                async with asyncio.timeout(CONNECT_SECONDS):
                    await self.sweep(conn)
        finally:
            self.connected = False
            conn.terminate()  # a dead socket cannot be closed politely

    def _notified(self, _conn: Connection, _pid: int, _channel: str, payload: object) -> None:
        self.on_notify(str(payload))
