"""Run a service's app: `python -m libs.platform.serve services.calls.app:create_app`.

Settings come from the environment (FRONTDESK_SERVICE, DATABASE_URL, ...).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from libs.platform import collector
from libs.platform.settings import Settings

HEADER_BYTES = 16 * 1024
"""The request line and headers may be this long; a longer head is refused with 400.

A head slow to arrive is cut off by `HeadTimeout`, a body slow to arrive by the body timeout
(libs/platform/limits_http.py), an idle keep-alive connection after `keep_alive_seconds`.
"""


class HeadTimeout(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head does not arrive in time.

    uvicorn times a connection only while it idles after a response: a client that connects
    and then sends nothing, or part of a request line or of its headers, would hold the
    connection (and its buffers) for ever.
    """

    head_seconds = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start waiting for the first request's head."""
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        """Parse what came; keep waiting while the head is still incomplete."""
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop waiting."""
        self._stop_watching()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._stop_watching()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_too_late)

    def _stop_watching(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def head_timeout(seconds: float) -> type[HeadTimeout]:
    """The protocol class with this head timeout."""
    return type("HeadTimeoutProtocol", (HeadTimeout,), {"head_seconds": seconds})


def load_factory(target: str) -> Callable[[Settings], FastAPI]:
    """Import `module:function` naming an app factory."""
    module_name, _, attr = target.partition(":")
    factory: Callable[[Settings], FastAPI] = getattr(importlib.import_module(module_name), attr)
    return factory


def main(argv: list[str]) -> None:
    """Build the app from the environment's settings and serve it until stopped."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m libs.platform.serve <module:create_app>")
    settings = Settings()  # read from the environment
    app = load_factory(argv[0])(settings)
    collector.settle_after_start()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.port,
        log_level="warning",
        http=head_timeout(settings.header_timeout_seconds),
        timeout_keep_alive=settings.keep_alive_seconds,
        h11_max_incomplete_event_size=HEADER_BYTES,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
