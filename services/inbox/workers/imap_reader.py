"""The IMAP reader as a worker: every linked mailbox read in its turn, and whenever the
simulation clock moves."""

from __future__ import annotations

import asyncio
from datetime import datetime

from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.sealed import SecretBox
from libs.platform.ticker import tick_until_stopped
from services.inbox import imap
from services.inbox.settings import InboxSettings


def worker(config: InboxSettings, box: SecretBox | None) -> Worker:
    """A worker that reads the clients' mailboxes."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                await imap.read_due(runtime.store, box, config, now)

        every = min(config.imap_poll_seconds, 5.0)
        await tick_until_stopped(runtime.clock, tick, stop, every=every, name="imap-reader")

    return run
