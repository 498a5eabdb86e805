"""Which failures mean "a server we depend on is away", in one place.

PostgreSQL restarting shows up in many shapes: a refused or reset socket, a connection that no
longer exists, "the database system is starting up / shutting down" (SQLSTATE 57P0x), a
protocol state the driver cannot leave because the socket died mid-operation. None of them is
the fault of the request or the message being handled, so consumers wait them out instead of
dead-lettering, HTTP answers 503 with Retry-After instead of 500, and background loops retry.
"""

from __future__ import annotations

import asyncio
import random
from contextlib import suppress

import asyncpg

DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, the Unix socket gone while the server is down
    TimeoutError,
    asyncpg.InterfaceError,  # the connection is closed or in the middle of something
    asyncpg.InternalClientError,  # "cannot switch to state ...": the socket died mid-query
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # 57P03 the database system is starting up
    asyncpg.AdminShutdownError,  # 57P01 terminating connection due to administrator command
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300, while the old connections are being cleaned up
)
"""Errors that say PostgreSQL cannot be reached right now, never that the input is wrong."""

RETRY_AFTER_SECONDS = 2
"""What a 503 tells the caller to wait before trying again."""


class ServiceUnavailable(Exception):
    """This service cannot serve the request right now (starting, or a dependency is away)."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means a dependency is unreachable rather than that something is wrong."""
    return isinstance(exc, (ServiceUnavailable, *DATABASE_OUTAGES))


def backoff(attempt: int, *, base: float = 0.5, cap: float = 10.0) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential, jittered, capped."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless `stop` is set first; True when stopping."""
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
