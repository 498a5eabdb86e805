"""Service apps used by the plumbing tests: a relay-only service, a counting projection and a
service with a few odd HTTP routes (a streamed body, a crash).

The projection counts how often each event was applied (`applied`), so a duplicate effect is
visible, and numbers each client's events in the order it saw them (`seq`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import StreamingResponse

from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.platform.consumer import HandlerContext, Subscription
from libs.platform.db import Connection, Migration
from libs.platform.http import create_service_app
from libs.platform.replay import ResetProjection
from libs.platform.runtime import ServiceDefinition
from libs.platform.settings import Settings

POISON_CALLER = "+31000000000"
PROJECTION_MIGRATIONS = (
    Migration(
        "test_0001_seen",
        """
        CREATE TABLE {schema}.seen (
            event_id uuid PRIMARY KEY,
            client_id uuid NOT NULL,
            seq integer NOT NULL,
            applied integer NOT NULL DEFAULT 1,
            UNIQUE (client_id, seq)
        )
        """,
    ),
)


async def count_event(event: Event, ctx: HandlerContext) -> None:
    """Record the event with the next sequence number of its client."""
    if getattr(event, "caller_number", None) == POISON_CALLER:
        raise ValueError("this caller always makes the handler fail")
    schema = ctx.store.schema
    seq = await ctx.conn.fetchval(
        f"SELECT coalesce(max(seq), 0) + 1 FROM {schema}.seen WHERE client_id = $1",
        event.client_id,
    )
    await ctx.conn.execute(
        f"INSERT INTO {schema}.seen (event_id, client_id, seq) VALUES ($1, $2, $3) "
        "ON CONFLICT (event_id) DO UPDATE SET applied = seen.applied + 1",
        event.event_id,
        event.client_id,
        seq,
    )


def projection_reset(schema: str) -> ResetProjection:
    """A reset that empties the projection of `schema` before a replay."""

    async def reset(conn: Connection) -> None:
        await conn.execute(f"TRUNCATE {schema}.seen")

    return reset


def projection_subscription(settings: Settings) -> Subscription:
    """The counting projection's subscription to the calls topic."""
    return Subscription(
        name=f"{settings.topic_prefix}-counter",
        topics=(topic_for("calls", settings.topic_prefix),),
        handlers={"CallReceived": count_event},
    )


def _subscriptions(settings: Settings) -> Sequence[Subscription]:
    return (projection_subscription(settings),)


def create_projection_app(settings: Settings) -> FastAPI:
    """A service process that runs the counting projection."""
    definition = ServiceDefinition(settings.service, PROJECTION_MIGRATIONS, _subscriptions)
    return create_service_app(settings, definition, title="test projection")


def create_relay_app(settings: Settings) -> FastAPI:
    """A service process that only relays its outbox."""
    return create_service_app(settings, ServiceDefinition(settings.service), title="test relay")


odd_routes = APIRouter()
STREAM_CHUNKS, STREAM_PAUSE = 5, 0.1


@odd_routes.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    """An item, by its number."""
    return {"item_id": item_id}


@odd_routes.get("/stream")
async def stream() -> StreamingResponse:
    """A body sent in chunks, with a pause before each."""

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(STREAM_CHUNKS):
            await asyncio.sleep(STREAM_PAUSE)
            yield f"{i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@odd_routes.get("/boom")
async def boom() -> None:
    """A bug: the route raises."""
    raise RuntimeError("this route always fails")


def create_http_app(settings: Settings) -> FastAPI:
    """A service process with the odd routes besides the shared ones."""
    definition = ServiceDefinition(settings.service)
    return create_service_app(settings, definition, routers=(odd_routes,), title="test http")
