"""An Idempotency-Key route checks the caller's API key before its transaction takes a connection.

An API key is checked on a pooled connection of its own. Were it checked inside the key's
transaction, every request would hold one connection while waiting for a second, and as many
concurrent requests as the pool has connections would wait for ever (seen under load:
POST /calls with an operator key stopped answering at 50 calls/s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request

from libs.events import new_id
from libs.platform.auth import Desk, Principal
from libs.platform.clock import SystemClock
from libs.platform.db import migrate
from libs.platform.http import Store
from libs.platform.idempotency import Idempotent, IdempotentRoute
from libs.platform.problems import install_problems
from libs.platform.settings import Settings
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.support.builders import call_received

pytestmark = [pytest.mark.infra]
POOL_SIZE = 2
CONCURRENT = 4 * POOL_SIZE


@dataclass
class Runtime:
    """What the route takes from a service's runtime."""

    store: EventStore
    clock: SystemClock = field(default_factory=SystemClock)
    settings: Settings = field(
        default_factory=lambda: Settings(service="calls", database_url="postgresql://unused")
    )

    def require_store(self) -> EventStore:
        """The store."""
        return self.store


async def operator_key(request: Request, key: str) -> Principal:
    """An API key check as libs/platform/api_keys.py does it: one query on the pool."""
    rt: Runtime = request.app.state.runtime
    async with rt.store.pool.acquire() as conn:
        await conn.fetchval("SELECT pg_sleep(0.02)")
    return Principal(f"api-key:{key}", "console", "operator", new_id(), "api_key")


def app_on(store: EventStore) -> FastAPI:
    """One idempotent route for the desk, appending an event."""
    router = APIRouter(route_class=IdempotentRoute)

    @router.post("/calls", status_code=201, dependencies=[Idempotent])
    async def receive(store: Store, caller: Desk) -> dict[str, str]:
        event = call_received(new_id())
        await store.append(f"call-{event.call_id}", 0, [event])
        return {"call_id": str(event.call_id), "by": caller.subject}

    app = FastAPI()
    app.state.runtime = Runtime(store)
    app.state.api_keys = operator_key
    install_problems(app)
    app.include_router(router)
    return app


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[EventStore]:
    """A committed schema of its own (dropped after) on a pool of POOL_SIZE connections."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=POOL_SIZE)
    assert pool is not None
    schema = f"t{uuid4().hex[:10]}_calls"
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, PLUMBING_MIGRATIONS)
        yield EventStore(pool, schema=schema, service="calls", prefix="inproc")
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


async def test_more_concurrent_keyed_requests_than_connections_all_get_their_answer(
    store: EventStore,
) -> None:
    transport = httpx.ASGITransport(app=app_on(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

        async def post(i: int) -> httpx.Response:
            headers = {"X-Api-Key": f"key-{i}", "Idempotency-Key": f"order-{i}"}
            return await http.post("/calls", headers=headers)

        async with asyncio.timeout(20):  # a deadlocked pool never answers
            answers = await asyncio.gather(*(post(i) for i in range(CONCURRENT)))
    assert [a.status_code for a in answers] == [201] * CONCURRENT
    count = await store.pool.fetchval(f"SELECT count(*) FROM {store.schema}.events")
    assert count == CONCURRENT
