"""The operators' feed as server-sent events: backlog after a cursor, then items as they commit.

One LISTEN connection per process (`FeedHub`, a worker) wakes every open stream when the
feed's trigger notifies; each stream also looks every few seconds, so a lost notification only
delays an item. A stream reads with the pool (no connection held while it waits), sends a
`: keep-alive` comment when it has been quiet for a while, and ends after `max_seconds` (the
browser reconnects with Last-Event-ID) so that a process can stop. A stream that ends, or
whose client goes away, leaves nothing behind: its wake-up is dropped and the gauge falls.
A stream whose reader fell behind what pruning removed ends at once, without the items after
the gap; the browser's resume is then answered 410 (api.py), so nothing is skipped unseen.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from libs.platform.listen import Listening
from libs.platform.runtime import ServiceRuntime, Worker
from services.routing import feed, metrics
from services.routing.directory import Queryable
from services.routing.domain.feed import lost

KEEP_ALIVE = b": keep-alive\n\n"


class FeedHub:
    """Fans the feed's notifications out to the streams open in this process."""

    def __init__(self) -> None:
        self._waiting: set[asyncio.Event] = set()

    def open(self) -> asyncio.Event:
        """A new stream's wake-up, set whenever an item may have committed."""
        wake = asyncio.Event()
        self._waiting.add(wake)
        metrics.FEED_STREAMS.inc()
        return wake

    def close(self, wake: asyncio.Event) -> None:
        """Forget a stream that ended."""
        if wake in self._waiting:
            self._waiting.remove(wake)
            metrics.FEED_STREAMS.dec()

    @property
    def streams(self) -> int:
        """How many streams are open."""
        return len(self._waiting)

    def notified(self, _payload: str = "") -> None:
        """An item committed (or the listener came back): every stream looks again."""
        for wake in self._waiting:
            wake.set()

    def worker(self) -> Worker:
        """The process's one listening connection, as a supervised worker."""

        async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
            settings = runtime.settings
            listening = Listening(
                settings.database_url.get_secret_value(),
                feed.channel(settings.pg_schema),
                self.notified,
                resync=self._resync,
            )
            await listening.run(stop)

        return run

    async def _resync(self, _conn: object) -> None:
        self.notified()  # notifications sent while it was away are lost: everyone reads again


@dataclass(frozen=True)
class Follow:
    """One stream's request: whose feed, from where, and how long it may stay open."""

    operator_id: str
    after: int | None
    once: bool = False
    poll_seconds: float = 3.0
    heartbeat_seconds: float = 15.0
    max_seconds: float = 300.0
    batch: int = 200
    retry_ms: int = 3000


def message(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One server-sent event (the JSON has no line breaks, so it is one `data:` line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(
    db: Queryable, schema: str, hub: FeedHub, follow: Follow
) -> AsyncGenerator[bytes, None]:
    """The feed's events: `ready` (when starting at the head), the backlog, then new items."""
    wake = hub.open()
    try:
        yield f"retry: {follow.retry_ms}\n\n".encode()
        cursor = follow.after
        if cursor is None:
            cursor = await feed.head(db, schema)
            yield message("ready", {"head": cursor}, cursor)
        async for chunk in _items(db, schema, wake, follow, cursor):
            yield chunk
    finally:
        hub.close(wake)


async def _items(
    db: Queryable, schema: str, wake: asyncio.Event, follow: Follow, cursor: int
) -> AsyncIterator[bytes]:
    started = quiet_since = time.monotonic()
    while True:
        wake.clear()  # before reading: a notification during the read wakes the next wait
        batch = await feed.read(db, schema, follow.operator_id, cursor, follow.batch)
        if lost(cursor, batch.pruned_through):
            return  # pruned under a slow reader: the browser resumes and is answered 410
        items = batch.items
        for item in items:
            cursor = item["seq"]
            yield message(item["kind"], item["data"], cursor)
        now = time.monotonic()
        if items:
            quiet_since = now
            if len(items) == follow.batch:
                continue  # more backlog waiting
        if follow.once or now - started >= follow.max_seconds:
            return
        if now - quiet_since >= follow.heartbeat_seconds:
            yield KEEP_ALIVE
            quiet_since = now
        left = follow.max_seconds - (now - started)
        wait = min(follow.poll_seconds, follow.heartbeat_seconds - (now - quiet_since), left)
        await _woken(wake, max(wait, 0.0))


async def _woken(wake: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
