"""How long every service's HTTP API takes to answer, as a pure ASGI middleware.

Pure ASGI (no BaseHTTPMiddleware) so streamed bodies pass through untouched and exceptions
keep their way to Starlette's error handling. Labels stay bounded: the matched route's path
template, never the raw path ("unmatched" when no route matched, so random 404s add nothing),
the status class, and the method from a fixed set. Scrapes of /metrics are not timed.
"""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.platform.metrics import HTTP_REQUEST_SECONDS

UNMATCHED = "unmatched"
UNTIMED_ROUTES = frozenset({"/metrics"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatency:
    """Observes each HTTP request's duration, from its arrival to the end of its body."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting the status it is answered with."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what Starlette answers when the app raises before it started a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        if route in UNTIMED_ROUTES:
            return
        method = scope["method"] if scope["method"] in METHODS else "other"
        HTTP_REQUEST_SECONDS.labels(self.service, method, route, f"{status // 100}xx").observe(
            seconds
        )


def route_template(scope: Scope) -> str:
    """The path template of the route that took the request, or "unmatched"."""
    return _template(scope.get("route")) or _matching_template(scope) or UNMATCHED


def _matching_template(scope: Scope) -> str | None:
    """The template of the app's route for the request, for routes that leave no trace in it.

    FastAPI's own routes put themselves in the scope; plain Starlette routes (/docs,
    /openapi.json) do not, so they are matched again here, as the router matched them.
    """
    partial = None
    for route in getattr(scope.get("app"), "routes", ()):
        template = _template(route)
        match = route.matches(scope)[0] if template else Match.NONE
        if match is Match.FULL:
            return template
        if match is Match.PARTIAL and partial is None:
            partial = template
    return partial


def _template(route: object) -> str | None:
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None
