"""The chaos run's HTTP client: retries what is safe to retry and counts every answer.

Requests that never reached a server (connection refused) are sent again at once after a
short pause. A 503 is retried after its Retry-After (bounded). A request that may have
reached the server but got no answer is only sent again when it is safe (a read, a PUT) or
when the caller can tell whether it took effect (`done`); otherwise its outcome is unknown.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors after which the server cannot have seen the request."""
Done = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Answer:
    """What one logical request came to: a status and body, or the transport error."""

    status: int | None
    body: Any = None
    error: str | None = None
    sent: bool = True
    reconciled: bool = False
    retry_after: float = 0.5

    @property
    def ok(self) -> bool:
        """A 2xx answer, or the effect was found in place after a lost answer."""
        return self.reconciled or (self.status is not None and 200 <= self.status < 300)

    @property
    def unknown(self) -> bool:
        """The request may have reached the server, but no answer came back."""
        return self.status is None and self.sent

    @property
    def maybe_applied(self) -> bool:
        """The server may have acted on the request (a 503 or a lost answer)."""
        return self.status == 503 or self.unknown

    def describe(self) -> str:
        """The status or the error, for reports."""
        return str(self.status) if self.status is not None else str(self.error)


@dataclass
class Tally:
    """Every status and transport error seen, the retries, and each server error."""

    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    unavailable_without_retry_after: int = 0
    gave_up: int = 0
    server_errors: Counter[str] = field(default_factory=Counter)
    """5xx answers other than 503, by request and status."""
    server_error_bodies: list[str] = field(default_factory=list)

    def count(self, label: str, answer: Answer) -> None:
        """Record one answer (or transport error) of a request."""
        self.statuses[answer.describe()] += 1
        if answer.status is not None and answer.status >= 500 and answer.status != 503:
            self.server_errors[f"{label} {answer.status}"] += 1
            if len(self.server_error_bodies) < 3:
                self.server_error_bodies.append(str(answer.body)[:300])


@dataclass
class Driver:
    """Sends the chaos run's requests; `patience` bounds the retries of one request."""

    http: httpx.AsyncClient
    patience: float = 180.0
    max_wait: float = 5.0
    tally: Tally = field(default_factory=Tally)

    async def send(
        self,
        method: str,
        url: str,
        label: str,
        body: Any = None,
        *,
        safe: bool = True,
        done: Done | None = None,
    ) -> Answer:
        """Send until answered (see the module docstring for what is retried)."""
        deadline, attempt = time.monotonic() + self.patience, 0
        while True:
            answer = await self._once(method, url, label, body)
            wait = self._wait(answer, attempt, retry_unknown=safe or done is not None)
            if wait is None:
                return answer
            if time.monotonic() + wait > deadline:
                self.tally.gave_up += 1
                return answer
            self.tally.retries += 1
            attempt += 1
            await asyncio.sleep(wait)
            if done is not None and answer.maybe_applied and await done():
                return Answer(answer.status, error=answer.error, reconciled=True)

    async def get(self, url: str, label: str) -> Answer:
        """A read, retried until answered."""
        return await self.send("GET", url, label)

    async def _once(self, method: str, url: str, label: str, body: Any) -> Answer:
        try:
            response = await self.http.request(method, url, json=body)
        except NOT_SENT as exc:
            answer = Answer(None, error=type(exc).__name__, sent=False)
        except httpx.TransportError as exc:
            answer = Answer(None, error=type(exc).__name__, sent=True)
        else:
            answer = Answer(
                response.status_code, _body(response), retry_after=_retry_after(response)
            )
            if response.status_code == 503 and "retry-after" not in response.headers:
                self.tally.unavailable_without_retry_after += 1
        self.tally.count(label, answer)
        return answer

    def _wait(self, answer: Answer, attempt: int, *, retry_unknown: bool) -> float | None:
        if answer.status == 503:
            return min(answer.retry_after, self.max_wait)
        if answer.status is not None or (answer.sent and not retry_unknown):
            return None
        return min(0.2 * 2.0**attempt, 2.0)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked us to wait (0.5 when it did not say), at least 0.05."""
    value = response.headers.get("retry-after")
    if value is None:
        return 0.5
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.5
    return max(seconds, 0.05)
