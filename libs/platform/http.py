"""The HTTP surface every service shares: health, readiness, metrics and the clock."""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from libs.errors import Rejected
from libs.platform import api_keys
from libs.platform.auth import Anyone, CurrentPrincipal, Staff, TokenVerifier, principal, require
from libs.platform.clock import ClockWentBackwards, SharedClock, advance_clock, set_clock
from libs.platform.latency import RequestLatency
from libs.platform.limits_http import BodyLimits, RateLimits, SignInFailures
from libs.platform.listen import CONNECT_SECONDS
from libs.platform.logging import configure_logging
from libs.platform.metrics import configure_exposition
from libs.platform.problems import EVERY_ROUTE, install_outages, install_problems, refusals
from libs.platform.runtime import ServiceDefinition, ServiceRuntime
from libs.platform.sealed import SecretBox, box_of
from libs.platform.settings import Settings
from libs.platform.store import EventStore


class ClockRead(BaseModel):
    """The time a service sees, and where it comes from."""

    now: datetime
    mode: str


class ClockChange(BaseModel):
    """Move the simulation clock: to an instant, or forward by some seconds."""

    model_config = ConfigDict(extra="forbid")

    set_to: AwareDatetime | None = None
    advance_seconds: float | None = Field(default=None, ge=0, le=10 * 366 * 86400)

    @model_validator(mode="after")
    def _exactly_one(self) -> ClockChange:
        if (self.set_to is None) == (self.advance_seconds is None):
            raise ValueError("give exactly one of set_to and advance_seconds")
        return self


async def runtime(request: Request) -> ServiceRuntime:
    """The service runtime of the app handling this request.

    The dependencies here are `async def` on purpose: FastAPI runs a plain `def` dependency
    in its thread pool, a thread hand-off per request that cost more than the screen pop's
    query under load (benchmarks/http_load.py).
    """
    found: ServiceRuntime = request.app.state.runtime
    return found


Runtime = Annotated[ServiceRuntime, Depends(runtime)]


async def event_store(request: Request, rt: Runtime) -> EventStore:
    """The service's event store (503 while the service is still starting).

    A request with an Idempotency-Key gets the store bound to the transaction that keeps its
    answer (libs/platform/idempotency.py).
    """
    joined: EventStore | None = getattr(request.state, "store", None)
    return joined if joined is not None else rt.require_store()


Store = Annotated[EventStore, Depends(event_store)]


async def secret_box(request: Request) -> SecretBox | None:
    """The service's keys for stored secrets (None when no FRONTDESK_SECRET_KEYS are set)."""
    box: SecretBox | None = request.app.state.secret_box
    return box


Box = Annotated[SecretBox | None, Depends(secret_box)]


async def service_settings(request: Request) -> Any:
    """The service's own settings, put on `app.state.service_settings` by its composition root.

    A service names the type once: `Config = Annotated[BillingSettings, Depends(service_settings)]`.
    """
    return request.app.state.service_settings


def app_state(name: str) -> Any:
    """A dependency handing out what the composition root put on `app.state` under `name`."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"app_state_{name}"
    return Depends(dependency)


async def strict_query(request: Request) -> None:
    """Refuse query parameters the route does not take (`client_id[]=A` filters nothing)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        raise Rejected(f"unknown query parameter(s): {', '.join(unknown)}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


ops = APIRouter(tags=["operations"])
NO_OPENTELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


@ops.get("/health/live")
async def live(rt: Runtime, response: Response) -> dict[str, Any]:
    """The process answers and no background task keeps failing; 503 names those that do.

    The process id tells a supervisor which process answered on the port.
    """
    failing = rt.liveness()
    if failing:
        response.status_code = 503
        return {"status": "failing", "tasks": failing, "pid": os.getpid()}
    return {"status": "alive", "pid": os.getpid()}


@ops.get("/health/ready")
async def ready(rt: Runtime, response: Response) -> dict[str, Any]:
    """Database and Kafka answer, relay and consumers are working; 503 otherwise."""
    state = await rt.readiness()
    if not state["ready"]:
        response.status_code = 503
    return state


@ops.get("/metrics", include_in_schema=False)
async def metrics(request: Request, rt: Runtime) -> Response:
    """Prometheus metrics of this process: for the scrape credential, or staff.

    They name every client, so neither the public nor a client may read them.
    """
    scrape = rt.settings.metrics_token
    offered = request.headers.get("authorization", "")
    if scrape is None or not hmac.compare_digest(
        offered.encode(), f"Bearer {scrape.get_secret_value()}".encode()
    ):
        caller = await principal(request)
        await require("staff")(caller)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@ops.get("/clock")
async def read_clock(rt: Runtime, _: Anyone) -> ClockRead:
    """The current time as this service sees it."""
    return ClockRead(now=rt.clock.now(), mode=rt.settings.clock)


@ops.post("/clock")
async def change_clock(change: ClockChange, rt: Runtime, _: Staff) -> ClockRead:
    """Set or advance the shared simulation clock (simulation mode only)."""
    if not isinstance(rt.clock, SharedClock):
        raise HTTPException(409, "the clock can only be changed in simulation mode")
    conn = await asyncpg.connect(rt.settings.clock_dsn, timeout=CONNECT_SECONDS)
    try:
        if change.set_to is not None:
            instant = await set_clock(conn, change.set_to)
        else:
            instant = await advance_clock(conn, timedelta(seconds=change.advance_seconds or 0))
    except ClockWentBackwards as exc:
        raise HTTPException(409, str(exc)) from exc
    finally:
        conn.terminate()
    return ClockRead(now=rt.clock.observe(instant), mode=rt.settings.clock)


class PrincipalRead(BaseModel):
    """Who the service takes the caller for."""

    subject: str
    name: str
    role: str | None
    client_id: UUID | None
    via: str


@ops.get("/whoami", responses=refusals(unauthenticated="The bearer token is not valid"))
async def whoami(caller: CurrentPrincipal) -> PrincipalRead:
    """The caller as this service sees it: anonymous, or the principal of its token."""
    return PrincipalRead(
        subject=caller.subject,
        name=caller.name,
        role=caller.role,
        client_id=caller.client_id,
        via=caller.via,
    )


def create_service_app(
    settings: Settings,
    definition: ServiceDefinition,
    routers: Sequence[APIRouter] = (),
    *,
    title: str,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs the service runtime; refusals answer as Problems.

    `body_limits` gives routes (by path template) a body limit other than the default.
    """
    configure_logging(settings.service, settings.log_level)
    configure_exposition()
    service_runtime = ServiceRuntime(settings, definition)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service_runtime.start()
        try:
            yield
        finally:
            await service_runtime.stop()

    app = FastAPI(
        title=title,
        lifespan=lifespan,
        responses=EVERY_ROUTE,
        dependencies=[Depends(strict_query)],
        # Metrics are Prometheus's (RequestLatency); FastAPI's own OpenTelemetry would look
        # for a configured provider in os.environ on every request, to find none.
        telemetry=NO_OPENTELEMETRY,
    )
    app.state.runtime = service_runtime
    app.state.secret_box = box_of(settings.secret_keys)
    app.state.token_verifier = TokenVerifier.from_settings(settings)
    app.state.api_keys = api_keys.check
    app.state.sign_in_failures = SignInFailures(settings.auth_failure_limit)
    app.add_middleware(
        BodyLimits,
        default_bytes=settings.max_body_bytes,
        per_route=body_limits or {},
        seconds=settings.body_timeout_seconds,
    )
    app.add_middleware(RateLimits, limits=settings.rate_limit)
    app.add_middleware(RequestLatency, service=settings.service)  # outermost: times refusals too
    install_problems(app)
    install_outages(app)
    app.include_router(ops)
    for router in routers:
        app.include_router(router)
    return app
