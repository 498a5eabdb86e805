"""What one request may cost a service: body size (413), body timeout (408), rate (429).

In-process tests drive the services' ASGI apps directly, with a receive that counts how much
of a body the app pulled; the process tests send raw bytes to a real calls process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from libs.platform.settings import Settings
from services.calls.app import create_app as create_calls_app
from services.intake.app import BOOK_BODY_BYTES
from services.intake.app import create_app as create_intake_app
from tests.conftest import World

MIB = 1024 * 1024
HUGE = 75 * MIB
CHUNK = 64 * 1024
CALLS_APP = "services.calls.app:create_app"


def settings(service: str, **values: Any) -> Settings:
    """A service's settings for an app that is never started (no database is reached)."""
    return Settings.model_validate(
        {"service": service, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", **values}
    )


@dataclass
class Answer:
    """What an app answered, and how much of the request body it pulled."""

    status: int
    headers: dict[str, str]
    body: bytes
    pulled: int

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class Request:
    """An HTTP request fed to an ASGI app chunk by chunk; `stall` leaves the rest unsent."""

    method: str
    path: str
    headers: list[tuple[bytes, bytes]]
    chunks: Iterable[bytes]
    stall: bool = False
    pulled: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self) -> dict[str, Any]:
        """The next chunk (pulled lazily), or nothing ever when stalled."""
        for chunk in self.chunks:
            self.pulled += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if self.stall:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        """Keep what the app sends."""
        self.messages.append(message)

    async def to(self, app: FastAPI) -> Answer:
        """Send the request to the app and collect its answer."""
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": self.method, "scheme": "http", "path": self.path, "raw_path":
            self.path.encode(), "query_string": b"", "root_path": "", "headers": self.headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        await app(scope, self.receive, self.send)
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.messages[1:])
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        return Answer(start["status"], headers, body, self.pulled)


def chunks(total: int) -> Iterable[bytes]:
    """`total` bytes of a JSON string body, in chunks, made only as they are pulled."""
    yield b'"'
    for _ in range(total // CHUNK):
        yield b"x" * CHUNK


def post(path: str, total: int, *, declared: bool, stall: bool = False) -> Request:
    """A JSON POST of `total` bytes, with a Content-Length or chunked."""
    headers = [(b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(total).encode()))
    return Request("POST", path, headers, chunks(total), stall=stall)


def get(path: str, headers: dict[str, str] | None = None) -> Request:
    """A GET without a body."""
    encoded = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request("GET", path, encoded, ())


# body size


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_75_mb_body_is_refused_413_without_being_read_and_calls_keeps_answering(
    declared: bool,
) -> None:
    app = create_calls_app(settings("calls"))
    answer = await post("/calls", HUGE, declared=declared).to(app)
    assert answer.status == 413
    assert answer.json()["detail"].startswith("request body too large: at most 1048576 bytes")
    assert answer.headers["connection"] == "close"
    assert answer.pulled <= MIB + CHUNK, "the body was read although it was too large"
    assert (await get("/health/live").to(app)).status == 200


async def test_a_body_within_the_limit_reaches_the_route() -> None:
    app = create_calls_app(settings("calls"))
    answer = await post("/calls", 200 * 1024, declared=True).to(app)
    assert answer.status == 422  # validated (a string is no call), not refused for its size
    assert answer.pulled >= 200 * 1024 - CHUNK


async def test_the_secretary_book_has_a_smaller_limit_of_its_own() -> None:
    app = create_intake_app(settings("intake"))
    book = f"/clients/{uuid4()}/book"
    for declared in (True, False):
        refused = await Request(
            "PUT", book, [(b"content-length", str(300 * 1024).encode())] if declared else [],
            chunks(300 * 1024),
        ).to(app)  # fmt: skip
        assert refused.status == 413, refused.body
        assert str(BOOK_BODY_BYTES) in refused.json()["detail"]
    taken = await Request("PUT", book, [], chunks(200 * 1024)).to(app)
    assert taken.status != 413  # within the book's limit: read whole and passed on
    assert taken.pulled >= 200 * 1024 - CHUNK
    other = await post("/clients", 300 * 1024, declared=True).to(app)
    assert other.status != 413  # other routes keep the default limit


async def test_the_body_limit_is_a_setting() -> None:
    app = create_calls_app(settings("calls", max_body_bytes=64 * 1024))
    assert (await post("/calls", 100 * 1024, declared=False).to(app)).status == 413


# body timeout


async def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() -> None:
    app = create_calls_app(settings("calls", body_timeout_seconds=0.2))
    answer = await post("/calls", 10_000, declared=True, stall=True).to(app)
    assert answer.status == 408
    assert "not received within 0.2 s" in answer.json()["detail"]
    assert answer.headers["connection"] == "close"


# rate limits


async def test_requests_over_the_rate_limit_get_429_with_retry_after_per_credential() -> None:
    app = create_calls_app(settings("calls", rate_limit="3/hour"))
    # the limit is counted before the credential is checked: these made-up ones get 401
    alice, bob = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
    assert [(await get("/whoami", alice).to(app)).status for _ in range(3)] == [401] * 3
    refused = await get("/whoami", alice).to(app)
    assert refused.status == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["detail"].startswith("too many requests: at most 3 per 1 hour")
    assert (await get("/whoami", bob).to(app)).status == 401
    keyed = {"X-Api-Key": "fd_key_1"}
    assert [(await get("/whoami", keyed).to(app)).status for _ in range(4)][-1] == 429
    anonymous = [(await get("/whoami").to(app)).status for _ in range(4)]
    assert anonymous == [200, 200, 200, 429]  # no credential: counted per client address


async def test_health_and_metrics_are_never_rate_limited() -> None:
    app = create_calls_app(settings("calls", rate_limit="1/hour"))
    for path in ("/health/live", "/metrics") * 5:
        answer = await get(path).to(app)
        assert answer.status == (200 if path == "/health/live" else 401), path


def test_a_malformed_rate_limit_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        settings("calls", rate_limit="lots per second")


# the real process


@pytest.fixture
async def calls_process(world: World) -> str:
    """A calls process with one-second head and body timeouts; its base URL."""
    process = world.process(
        CALLS_APP,
        "calls",
        "calls",
        FRONTDESK_BODY_TIMEOUT_SECONDS="1",
        FRONTDESK_HEADER_TIMEOUT_SECONDS="1",
    )
    await asyncio.to_thread(process.start)
    return process.url


async def open_raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection to the process."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    return await asyncio.open_connection(host, port)


def head(method: str, path: str, *headers: str) -> bytes:
    """A request line and headers."""
    lines = [f"{method} {path} HTTP/1.1", "Host: calls", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def answered(url: str) -> int:
    """The status of GET /health/live on a fresh connection."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return (await http.get("/health/live")).status_code


async def send_until_cut_off(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> int:
    """Stream chunks of a chunked body until the server answers or hangs up; the bytes sent.

    The server closes while the client still sends, so the client's socket may be reset
    before the 413 is read: either way the server stopped taking the body.
    """
    reply = asyncio.ensure_future(reader.read(1))
    sent = 0
    try:
        while not reply.done() and sent < HUGE:
            writer.write(f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n")
            await writer.drain()
            sent += CHUNK
    except ConnectionError:
        pass  # the server closed the connection while we were still sending
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reply, 30)
    return sent


@pytest.mark.infra
async def test_a_75_mb_body_to_the_calls_process_is_refused_and_it_keeps_answering(
    calls_process: str,
) -> None:
    reader, writer = await open_raw(calls_process)
    writer.write(head("POST", "/calls", f"Content-Length: {HUGE}") + b"x" * CHUNK)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 30)  # to the end: the server closes
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    writer.close()
    reader, writer = await open_raw(calls_process)
    writer.write(head("POST", "/calls", "Transfer-Encoding: chunked"))
    sent = await send_until_cut_off(writer, reader)
    writer.close()
    assert sent < HUGE, "the whole body was taken in before the answer"
    assert await answered(calls_process) == 200


@pytest.mark.infra
async def test_a_half_sent_request_is_closed_and_others_are_answered_meanwhile(
    calls_process: str,
) -> None:
    reader, writer = await open_raw(calls_process)
    writer.write(head("POST", "/calls", "Content-Type: application/json", "Content-Length: 1000"))
    writer.write(b'{"client_id": ')
    await writer.drain()
    assert await answered(calls_process) == 200
    response = await asyncio.wait_for(reader.read(), 30)  # to the end: the server closes
    writer.close()
    assert response.startswith(b"HTTP/1.1 408 "), response[:200]
    assert b"not received within 1.0 s" in response
    assert await answered(calls_process) == 200


@pytest.mark.infra
@pytest.mark.parametrize("sent", [b"", b"POST /calls HTTP/1.1\r\nHost: calls\r\nContent-Le"])
async def test_a_connection_whose_headers_never_complete_is_closed(
    calls_process: str, sent: bytes
) -> None:
    reader, writer = await open_raw(calls_process)
    writer.write(sent)
    await writer.drain()
    assert await answered(calls_process) == 200
    assert await asyncio.wait_for(reader.read(), 30) == b""  # closed without an answer
    writer.close()
    assert await answered(calls_process) == 200
