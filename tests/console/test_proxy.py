"""The console's proxy under /api/<service>/ against a real upstream over real sockets: a
streamed answer (the live feed) is passed through as it comes, and a browser that goes away
closes the upstream request at once, not when the service ends its stream minutes later.

Both the upstream (a raw ASGI app that streams forever and records its client's disconnect)
and the console are served by uvicorn on free 127.0.0.1 ports inside the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from services.console.app import create_app
from services.console.settings import ConsoleSettings
from tests.support.pipeline import wait_until
from tests.support.processes import free_port

FIRST = b": streaming\n\n"


@dataclass
class Upstream:
    """A service whose every answer streams forever: one comment, then a keep-alive every
    `beat` seconds (None: nothing more, a quiet feed). `opened` counts the requests that reached
    it, `closed` those whose client went away."""

    beat: float | None = None
    opened: int = 0
    closed: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan to speak of
        self.opened += 1
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        start = {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-type", b"text/event-stream")]}  # fmt: skip
        await send(start)
        await send({"type": "http.response.body", "body": FIRST, "more_body": True})
        while not await self._gone(receive):
            await send({"type": "http.response.body", "body": b": beat\n\n", "more_body": True})
        self.closed += 1

    async def _gone(self, receive: Any) -> bool:
        """Whether the client went away before the next beat."""
        try:
            async with asyncio.timeout(self.beat):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            return False
        return True


def speaking(app: Any, spec_version: str) -> Any:
    """The app, told by its server that it speaks this version of the ASGI HTTP spec (uvicorn
    says 2.3; from 2.4 on, a write to a closed connection may fail instead of a disconnect being
    reported, and Starlette stops listening for it)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "asgi": {**scope.get("asgi", {}), "spec_version": spec_version}}
        await app(scope, receive, send)

    return wrapped


def _true(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return condition()

    return check


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free port; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(_true(lambda: server.started), within=10, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
@pytest.mark.parametrize("beat", [None, 0.1], ids=["quiet", "chatty"])
async def test_a_browser_that_leaves_a_stream_closes_the_upstream_request_at_once(
    spec_version: str, beat: float | None
) -> None:
    upstream = Upstream(beat)
    async with served(upstream) as service:
        console = create_app(ConsoleSettings(upstreams={"routing": service}))
        async with (
            served(speaking(console, spec_version)) as url,
            httpx.AsyncClient(timeout=10) as browser,
        ):
            feed = f"{url}/api/routing/operators/op-anna/feed"
            headers = {"Last-Event-ID": "41", "Accept": "text/event-stream"}
            for attempt in (1, 2):  # a second time: the first left nothing stuck behind
                async with browser.stream("GET", feed, headers=headers) as answer:
                    assert answer.status_code == 200
                    assert answer.headers["content-type"].startswith("text/event-stream")
                    first = await anext(answer.aiter_raw())
                    assert first == FIRST, "streamed through as it came, not buffered"
                    assert (upstream.opened, upstream.closed) == (attempt, attempt - 1)
                # the browser closed the connection while the upstream had more to say
                closed = _true(lambda n=attempt: upstream.closed == n)  # type: ignore[misc]
                await wait_until(closed, within=5, what="the upstream request to close")
            assert upstream.headers[0]["last-event-id"] == "41"
