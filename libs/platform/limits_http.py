"""What one request may cost a service: its body's size, the time to send it, the request rate.

Pure ASGI middleware, so nothing is buffered: a body larger than its route allows is refused
with 413 from its Content-Length before any of it is read, and a chunked body is counted
while it streams in and refused as soon as it passes the limit. A body that does not arrive
within the body timeout is answered 408. Both answers close the connection, so the rest of
such a body is never read. Rate limits (the `limits` package, a moving window in the
process's memory) are kept per credential: a hash of the Authorization or X-Api-Key header
when one is given, else the client's address; 429 with Retry-After. Health and metrics
endpoints are never limited, so probes and scrapes keep working under load.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.platform.problems import problem

UNLIMITED_PREFIXES = ("/health/", "/metrics")
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")
DISCONNECT: Message = {"type": "http.disconnect"}


async def refuse(
    scope: Scope, send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> None:
    """Answer a Problem and close the connection (what is left of the body is never read)."""
    response = problem(status, detail)
    response.headers.update({**(headers or {}), "Connection": "close"})

    async def nothing() -> Message:
        return DISCONNECT

    await response(scope, nothing, send)


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, when it gives a valid one."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimits:
    """Refuses bodies over their route's limit (413) or slower than the body timeout (408)."""

    def __init__(
        self, app: ASGIApp, *, default_bytes: int, per_route: Mapping[str, int], seconds: float
    ) -> None:
        self.app, self.default_bytes, self.seconds = app, default_bytes, seconds
        # Matched on the path, before routing: the routes' own matching comes later.
        self.per_route = [(compile_path(t)[0], limit) for t, limit in per_route.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a receive that counts and times its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await refuse(scope, send, 413, too_large(limit))
            return
        body = GuardedBody(scope, receive, send, limit=limit, seconds=self.seconds)
        await self.app(scope, body.receive, body.send)

    def _limit(self, path: str) -> int:
        found = (limit for pattern, limit in self.per_route if pattern.match(path))
        return next(found, self.default_bytes)


def too_large(limit: int) -> str:
    """The detail of a 413."""
    return f"request body too large: at most {limit} bytes are accepted here"


class GuardedBody:
    """One request's receive and send, cut off once the body is too large or too slow.

    When it cuts off it answers itself and tells the app the client left; whatever the app
    answers after that is dropped.
    """

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, *, limit: int, seconds: float
    ) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.limit, self.seconds = limit, seconds
        self.received, self.deadline = 0, 0.0
        self.complete = self.answered = self.started = False

    async def receive(self) -> Message:
        """The next message of the request, within the body's deadline and size."""
        if self.answered:
            return DISCONNECT
        if self.complete:
            return await self._receive()  # waits for the disconnect, untimed
        if not self.deadline:
            self.deadline = asyncio.get_running_loop().time() + self.seconds
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            return await self._cut_off(408, f"request body not received within {self.seconds} s")
        return await self._count(message)

    async def _count(self, message: Message) -> Message:
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            return await self._cut_off(413, too_large(self.limit))
        self.complete = not message.get("more_body", False)
        return message

    async def _cut_off(self, status: int, detail: str) -> Message:
        if not self.started:
            await refuse(self.scope, self._send, status, detail)
        self.answered = True
        return DISCONNECT

    async def send(self, message: Message) -> None:
        """Pass the app's answer on, unless this request was answered already."""
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def credential_key(scope: Scope) -> str:
    """Whom a request counts against: its credential's hash, else the client's address."""
    for name, value in scope.get("headers", ()):
        if name in CREDENTIAL_HEADERS:
            return "credential:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


class RateLimits:
    """Refuses requests over the rate limits of their credential with 429 and Retry-After."""

    def __init__(self, app: ASGIApp, *, limits: str) -> None:
        self.app = app
        self.items: list[RateLimitItem] = parse_many(limits)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request against its credential; refuse it once a limit is reached."""
        if scope["type"] == "http" and not scope["path"].startswith(UNLIMITED_PREFIXES):
            key = credential_key(scope)
            for item in self.items:
                if not await self.limiter.hit(item, key):
                    await self._refuse(scope, send, item, key)
                    return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, item: RateLimitItem, key: str) -> None:
        stats = await self.limiter.get_window_stats(item, key)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        detail = f"too many requests: at most {item}; try again in {wait} s"
        await refuse(scope, send, 429, detail, {"Retry-After": str(wait)})


class SignInFailures:
    """Counts failed sign-ins per client address; past the limit, credentials from there wait.

    Rate limits count per credential, so someone trying one made-up token or key after another
    would get a fresh allowance each time. Every refused credential therefore also counts
    against the address it came from; once that address has failed `limit` times, requests
    with credentials from it get 429 until the window has moved on. Requests without
    credentials are not affected (they are anonymous, with their own address's limit).
    """

    def __init__(self, limit: str) -> None:
        self.items: list[RateLimitItem] = parse_many(limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def wait_seconds(self, address: str) -> int | None:
        """Seconds until the address may try again, or None while it is within its limit."""
        for item in self.items:
            if not await self.limiter.test(item, address):
                stats = await self.limiter.get_window_stats(item, address)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    async def failed(self, address: str) -> None:
        """Count a refused credential against the address."""
        for item in self.items:
            await self.limiter.hit(item, address)
