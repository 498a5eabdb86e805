"""A stand-in for the SMS provider and chat webhooks: a real HTTP server that records POSTs.

POST /sms answers 400 for REJECTED_NUMBER (an unknown number, as a provider would) and 202
otherwise; every other path answers 200, like a chat incoming webhook.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.processes import free_port

REJECTED_NUMBER = "+31600000001"


@dataclass(frozen=True)
class Posted:
    """One request the stand-in received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


class StandIn:
    """The HTTP server in a thread of the test process."""

    def __init__(self) -> None:
        self.posted: list[Posted] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the stand-in."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandIn:
        """Serve in the background."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path_prefix: str = "/") -> list[Posted]:
        """What was posted so far under a path."""
        with self.lock:
            return [p for p in self.posted if p.path.startswith(path_prefix)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                status = 200
                if self.path.startswith("/sms"):
                    status = 400 if body.get("to") == REJECTED_NUMBER else 202
                with stand_in.lock:
                    stand_in.posted.append(Posted(self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error": "unknown number"}' if status == 400 else b"{}")

            def log_message(self, *_: Any) -> None:
                """Keep the test output quiet."""

        return Handler
