"""Helpers for tests that push events through store -> relay -> Kafka -> consumer."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg
import httpx

from libs.events.calls import CallReceived
from libs.events.envelope import new_id
from libs.platform.db import migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.support.builders import call_received
from tests.support.credentials import STAFF
from tests.support.processes import ServiceProcess

if TYPE_CHECKING:
    from tests.support.stack import World


async def calls_store(pool: asyncpg.Pool, schema: str, prefix: str) -> EventStore:
    """The calls service's event store in a test schema, migrated."""
    async with pool.acquire() as conn:
        await migrate(conn, schema, PLUMBING_MIGRATIONS)
    return EventStore(pool, schema=schema, service="calls", prefix=prefix)


async def append_calls(
    store: EventStore, clients: Sequence[UUID], per_client: int
) -> list[CallReceived]:
    """Append `per_client` calls for each client, interleaved; returns them in append order."""
    appended = []
    for _ in range(per_client):
        for client in clients:
            event = call_received(client)
            await store.append(f"call-{event.call_id}", 0, [event])
            appended.append(event)
    return appended


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, within: float = 90, what: str = "condition"
) -> None:
    """Poll `check` until it holds; fail the test with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def seen(pool: asyncpg.Pool, schema: str) -> list[asyncpg.Record]:
    """The counting projection's rows, per client in the order applied."""
    return await pool.fetch(
        f"SELECT event_id, client_id, seq, applied FROM {schema}.seen ORDER BY client_id, seq"
    )


async def count_seen(pool: asyncpg.Pool, schema: str) -> int:
    """How many distinct events the counting projection has applied (0 before it exists)."""
    exists = await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.seen")
    return int(await pool.fetchval(f"SELECT count(*) FROM {schema}.seen")) if exists else 0


def metric_value(base_url: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples on a running service whose labels include `labels`."""
    total = 0.0
    page = httpx.get(f"{base_url}/metrics", timeout=5, headers=STAFF)
    assert page.status_code == 200, page.text
    for line in page.text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1 :].rsplit("} ", 1)
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


RELAY = "tests.support.apps:create_relay_app"
PROJECTION = "tests.support.apps:create_projection_app"


def start_pair(world: World, **projection_env: str) -> tuple[ServiceProcess, ServiceProcess]:
    """A calls relay process and a counting projection process, both started."""
    relay = world.process(RELAY, "calls", "calls")
    relay.start()
    projection = world.process(PROJECTION, "billing", "proj")
    projection.start(extra_env=projection_env or None)
    return relay, projection


async def reached(pool: asyncpg.Pool, schema: str, n: int) -> bool:
    """The counting projection holds at least n events."""
    return await count_seen(pool, schema) >= n


async def metric_at_least(url: str, outcome: str, n: int) -> bool:
    """The service has finished at least n messages with this outcome."""
    return metric_value(url, "frontdesk_events_consumed_total", outcome=outcome) >= n


async def append_in_one_transaction(store: EventStore, n: int) -> list[CallReceived]:
    """n calls of n clients appended in a single transaction (one relay batch)."""
    events = [call_received(new_id()) for _ in range(n)]
    async with store.transaction() as conn:
        for event in events:
            await store.append(f"call-{event.call_id}", 0, [event], conn=conn)
    return events


async def assert_each_applied_once_in_order(
    pool: asyncpg.Pool, schema: str, appended: Sequence[CallReceived]
) -> None:
    """Every appended event was applied exactly once, in append order per client."""
    rows = await seen(pool, schema)
    assert sorted(r["event_id"] for r in rows) == sorted(e.event_id for e in appended)
    assert {r["applied"] for r in rows} == {1}
    expected: dict[UUID, list[UUID]] = defaultdict(list)
    for event in appended:
        expected[event.client_id].append(event.event_id)
    got: dict[UUID, list[UUID]] = defaultdict(list)
    for row in rows:
        got[row["client_id"]].append(row["event_id"])
    assert got == expected
