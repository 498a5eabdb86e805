"""Screen pops kept in the process: the number's client and book, dropped on any change.

The screen pop is intake's hottest read (every call an operator takes), and its rows change
only when an intake command commits. Every such commit notifies `screen_pop_channel` (in
the command's own transaction, so the notification goes out exactly when the change is
visible, and never for one rolled back); each replica LISTENs on it and drops all it keeps.

How stale a kept row can be: for as long as a notification takes to arrive, milliseconds on a
healthy database. Rows are served only while the listening connection is up (a notification
sent while it is down is lost, so everything is dropped again when it is back), and a row is
never older than `max_age` (FRONTDESK_INTAKE_SCREEN_POP_CACHE_SECONDS), which bounds the time
a connection that broke silently, before its next sweep notices, could keep a replica behind.
A read that began before a change and ends after the notification is not kept (`generation`).
Only held numbers are kept, so the size is bounded by the numbers clients hold; the view
(office open, instructions in force) is made per request from `now`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from libs.platform.db import Connection
from libs.platform.listen import Listening
from libs.platform.runtime import ServiceRuntime, Worker
from services.intake.read_model import ScreenPopRow, screen_pop_channel


class ScreenPops:
    """Held numbers' screen pop rows, kept while the change notifications can be trusted."""

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age, self.clock = max_age, clock
        self.generation = 0
        self.listening = False
        self._rows: dict[str, tuple[float, ScreenPopRow]] = {}

    def get(self, number: str) -> ScreenPopRow | None:
        """The kept row of a number, unless there is none, it is too old or not trustworthy."""
        entry = self._rows.get(number) if self.listening else None
        if entry is None or self.clock() - entry[0] > self.max_age:
            return None
        return entry[1]

    def put(self, row: ScreenPopRow, generation: int) -> None:
        """Keep a row read at `generation`, unless a change was notified since the read began."""
        if self.listening and self.max_age > 0 and generation == self.generation:
            self._rows[row.number] = (self.clock(), row)

    def drop_all(self) -> None:
        """Forget every row (a change was committed, or notifications may have been missed)."""
        self.generation += 1
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


def listener(pops: ScreenPops) -> Worker:
    """The worker keeping `pops` told of changes; rows are served only while it listens."""

    async def run(rt: ServiceRuntime, stop: asyncio.Event) -> None:
        store = rt.require_store()

        async def reconnected(_: Connection) -> None:
            pops.drop_all()  # whatever changed while it was down went unnoticed
            pops.listening = True

        listening = Listening(
            rt.settings.database_url.get_secret_value(),
            screen_pop_channel(store.schema),
            lambda _payload: pops.drop_all(),
            resync=reconnected,
            sweep=lambda conn: _sweep(conn, pops, listening),
        )
        try:
            await listening.run(stop)
        finally:
            pops.listening = False
            pops.drop_all()

    return run


async def _sweep(conn: Connection, pops: ScreenPops, listening: Listening) -> None:
    pops.listening = False  # until the connection has shown it is alive
    await conn.fetchval("SELECT 1")
    pops.listening = listening.connected
