"""The operator console and the client portal: pages served to the browser, nothing more.

The pages sign in at the identity provider themselves (authorization code flow with PKCE, by
oidc-client-ts) and call the services' public APIs with the bearer token they got, under one
origin: /api/<service>/... In compose and the cluster the reverse proxy in front routes /api/
to the services; in the local stack and the tests the console forwards those requests itself
(FRONTDESK_CONSOLE_UPSTREAMS), streaming both ways so the live feed passes through. The console
keeps no state and holds no secret: every decision is the services'.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from services.console.settings import SERVICES, ConsoleSettings

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
NODE_MODULES = HERE / "web" / "node_modules"
VENDOR = {"oidc-client-ts.js": NODE_MODULES / "oidc-client-ts/dist/browser/oidc-client-ts.min.js"}
FORWARDED_REQUEST_HEADERS = ("authorization", "content-type", "accept", "idempotency-key",
                             "last-event-id", "x-api-key", "accept-language")  # fmt: skip
FORWARDED_RESPONSE_HEADERS = ("content-type", "content-disposition", "content-encoding",
                              "cache-control", "retry-after", "location",
                              "x-content-type-options")  # fmt: skip
PAGES = {"/": "console.html", "/portal": "portal.html"}


def _security_headers(issuer: str) -> dict[str, str]:
    parts = urlsplit(issuer)
    idp = f"{parts.scheme}://{parts.netloc}"
    policy = (f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              f"connect-src 'self' {idp}; form-action 'self' {idp}; frame-ancestors 'none'; "
              "base-uri 'none'; object-src 'none'")  # fmt: skip
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console's pages, its configuration for the browser and (when given) the proxy."""
    config = settings or ConsoleSettings()
    headers = _security_headers(config.issuer_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(config.proxy_timeout_seconds, read=None)  # the feed streams
        async with httpx.AsyncClient(timeout=timeout) as client:
            app.state.http = client
            yield

    app = FastAPI(title="Frontdesk console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip

    @app.get("/health/live")
    async def live() -> dict[str, object]:
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/config.json")
    async def browser_config() -> JSONResponse:
        """What the pages need: the issuer, the client id and the services under /api/."""
        body = {"issuer": config.issuer_url, "client_id": config.client_id,
                "services": list(SERVICES)}  # fmt: skip
        return JSONResponse(body, headers=headers)

    for path, page in PAGES.items():
        app.add_api_route(path, _page(page, headers), methods=["GET"], include_in_schema=False)

    @app.get("/vendor/{name}")
    async def vendor(name: str) -> Response:
        found = VENDOR.get(name)
        if found is None or not found.exists():
            return JSONResponse({"detail": f"no {name}"}, status_code=404)
        return FileResponse(found, media_type="text/javascript", headers=headers)

    @app.api_route("/api/{service}/{path:path}",
                   methods=["GET", "POST", "PUT", "DELETE", "PATCH"])  # fmt: skip
    async def proxy(service: str, path: str, request: Request) -> Response:
        upstream = config.upstreams.get(service)
        if upstream is None:
            return JSONResponse({"detail": f"no service {service!r} behind /api"}, 404)
        return await _forward(request, f"{upstream}/{path}")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def secure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response: Response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            for name, value in headers.items():
                response.headers.setdefault(name, value)
        return response

    return app


def _page(name: str, headers: dict[str, str]) -> Callable[[], Awaitable[FileResponse]]:
    async def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html", headers=headers)

    return page


async def _forward(request: Request, url: str) -> Response:
    client: httpx.AsyncClient = request.app.state.http
    outgoing = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}
    upstream = client.build_request(request.method, url, params=request.query_params,
                                    headers=outgoing, content=await request.body())  # fmt: skip
    try:
        answer = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        body = json.dumps({"detail": f"the service could not be reached: {type(exc).__name__}"})
        return Response(body, status_code=502, media_type="application/json")
    kept = {k: v for k, v in answer.headers.items() if k.lower() in FORWARDED_RESPONSE_HEADERS}
    return Relayed(answer, kept)


class Relayed(StreamingResponse):
    """An upstream answer passed on as it comes, and closed as soon as it is no longer read.

    The browser going away (`http.disconnect`) ends the relay at once, whatever ASGI version the
    server speaks (Starlette's own response only listens below 2.4, and a server that drops
    writes to a closed socket would keep a quiet feed open until the service ends it), and the
    upstream request is closed then, or when it ends or fails: nothing is left to the GC.
    """

    def __init__(self, answer: httpx.Response, headers: dict[str, str]) -> None:
        super().__init__(answer.aiter_raw(), status_code=answer.status_code, headers=headers)
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Relay until the upstream ends or the browser leaves; then close the upstream."""
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._relay, send, group.cancel_scope)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.answer.aclose()

    async def _relay(self, send: Send, scope: anyio.CancelScope) -> None:
        with suppress(OSError):  # a server that reports a closed socket on write (ASGI 2.4)
            await self.stream_response(send)
        scope.cancel()
