"""The operators' feed keeps its items for a while only: pruning (oldest first, in batches, one
replica at a time), the mark it leaves, and the feed route answering 410 to a client that
resumes from before what was pruned, on rolled-back PostgreSQL schemas (one test commits, in a
schema of its own, to run two pruning replicas against each other)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from libs.platform.auth import Principal
from libs.platform.clock import FixedClock
from libs.platform.db import advisory_key, migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.routing import feed
from services.routing.directory import Queryable
from services.routing.domain.feed import Audience, FeedItem
from services.routing.feed_stream import FeedHub, Follow, stream
from services.routing.migrations import MIGRATIONS
from services.routing.settings import RoutingSettings
from tests.routing.test_feed import T0, app_on, events_of, operator
from tests.support.access import OPERATOR as ANNA
from tests.support.pipeline import wait_until
from tests.support.rollback import RolledBackStore

pytestmark = [pytest.mark.infra]
Http = tuple[httpx.AsyncClient, dict[str, Principal]]
RETENTION = timedelta(hours=72)
OLD = T0 - RETENTION - timedelta(hours=1)
FEED = "/operators/op-anna/feed"


@pytest.fixture
async def numbered(store: RolledBackStore) -> RolledBackStore:
    """The rolled-back store, its feed items numbered as they are written."""
    await store.conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return store


@pytest.fixture
async def http(numbered: RolledBackStore) -> AsyncIterator[Http]:
    """An HTTP client of routing's API in-process, acting as operator Anna."""
    acting = {"as": ANNA}
    transport = httpx.ASGITransport(app=app_on(numbered, acting))
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client_:
        yield client_, acting


def item(at: datetime, operator_id: str = "op-anna") -> FeedItem:
    """An item for an operator that occurred at `at`."""
    return FeedItem(
        uuid4(), uuid4(), at, "call", Audience(operator_id=operator_id), {"at": str(at)}
    )


async def written(db: Queryable, schema: str, *times: datetime) -> list[int]:
    """Write one committed (or, in a `numbered` store, immediately numbered) item per time;
    their seqs, in order."""
    seqs = []
    for at in times:
        new = item(at)
        await feed.write(db, schema, new)  # type: ignore[arg-type]
        seq = await db.fetchval(
            f"SELECT seq FROM {schema}.feed_items WHERE event_id = $1", new.event_id
        )
        seqs.append(int(seq))
    return seqs


async def kept(db: Queryable, schema: str) -> list[int]:
    """The seqs still in the feed table."""
    return [r["seq"] for r in await db.fetch(f"SELECT seq FROM {schema}.feed_items ORDER BY seq")]


async def pruned_through(db: Queryable, schema: str) -> int:
    """The pruning mark."""
    return int(await db.fetchval(f"SELECT through_seq FROM {schema}.feed_pruned"))


# Pruning -----------------------------------------------------------------------------------


async def test_items_older_than_the_retention_go_in_batches_and_recent_ones_stay(
    numbered: RolledBackStore,
) -> None:
    store, schema = numbered, numbered.schema
    old = await written(store.conn, schema, OLD - timedelta(days=9), OLD - timedelta(hours=5), OLD)
    recent = await written(store.conn, schema, T0 - RETENTION + timedelta(minutes=1), T0)
    removed = await feed.prune(store, T0, RETENTION, batch=2)  # two batches, the second short
    assert removed == 3
    assert await kept(store.conn, schema) == recent
    assert await pruned_through(store.conn, schema) == old[-1]
    assert await feed.prune(store, T0, RETENTION, batch=2) == 0, "nothing more to prune"
    assert await pruned_through(store.conn, schema) == old[-1]


async def test_pruning_stops_at_the_first_young_item_so_what_goes_is_always_a_prefix(
    numbered: RolledBackStore,
) -> None:
    store, schema = numbered, numbered.schema
    # an item numbered late for an old fact (a consumer catching up) waits for those before it
    first, young, late = await written(store.conn, schema, OLD, T0, OLD)
    assert await feed.prune(store, T0, RETENTION, batch=100) == 1
    assert await kept(store.conn, schema) == [young, late]
    assert await pruned_through(store.conn, schema) == first
    assert await feed.prune(store, T0 + RETENTION + timedelta(hours=1), RETENTION, batch=100) == 2
    assert await kept(store.conn, schema) == []
    assert await feed.bounds(store.conn, schema) == feed.Bounds(late, late), (
        "with every item pruned, the head is the mark: a client at it is current"
    )


@pytest.fixture
async def committed(db: asyncpg.Pool) -> AsyncIterator[str]:
    """Routing's tables in a schema of their own, committed for real (dropped afterwards)."""
    schema = f"t{uuid4().hex[:10]}_feedprune"
    async with db.acquire() as conn:
        await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *MIGRATIONS))
    yield schema
    await db.execute(f"DROP SCHEMA {schema} CASCADE")


def replica(db: asyncpg.Pool, schema: str) -> EventStore:
    """One routing replica's store."""
    return EventStore(db, schema=schema, service="routing", prefix="t")


async def test_two_replicas_pruning_at_once_remove_each_old_item_once_and_keep_the_rest(
    db: asyncpg.Pool, committed: str
) -> None:
    schema = committed
    old = await written(db, schema, *(OLD - timedelta(minutes=n) for n in range(60)))
    recent = await written(db, schema, *(T0 - timedelta(minutes=n) for n in range(5)))
    replicas = [replica(db, schema), replica(db, schema)]
    async with db.acquire() as holder, holder.transaction():  # a third replica is pruning
        await holder.fetchval(
            "SELECT pg_advisory_xact_lock($1)", advisory_key(schema, "feed-prune")
        )
        assert await feed.prune(replicas[0], T0, RETENTION, batch=7) == 0, "it skips the round"
        assert len(await kept(db, schema)) == len(old) + len(recent)
    removed = await asyncio.gather(*(feed.prune(r, T0, RETENTION, batch=7) for r in replicas))
    removed_later = await feed.prune(replicas[1], T0, RETENTION, batch=7)  # what a skip left
    assert sum(removed) + removed_later == len(old), "each old item removed exactly once"
    assert await kept(db, schema) == recent
    assert await pruned_through(db, schema) == max(old)


async def test_the_pruning_worker_prunes_by_the_service_clock(
    db: asyncpg.Pool, committed: str
) -> None:
    schema = committed
    config = RoutingSettings(feed_retention_hours=72, feed_prune_seconds=30)
    old, recent = await written(db, schema, OLD, T0)
    clock = FixedClock(T0 + timedelta(hours=1))  # simulated time: by the wall clock both stay
    runtime: Any = SimpleNamespace(store=replica(db, schema), clock=clock)
    stop = asyncio.Event()
    work = feed.prune_worker(config)
    worker: asyncio.Task[None] = asyncio.ensure_future(work(runtime, stop))
    try:

        async def pruned() -> bool:
            return await kept(db, schema) == [recent]

        await wait_until(pruned, within=10, what="the worker to prune the old item")
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    assert await pruned_through(db, schema) == old


# Resuming after pruning --------------------------------------------------------------------


async def test_a_resume_id_before_pruned_items_is_410_and_a_current_one_streams(
    numbered: RolledBackStore, http: Http
) -> None:
    client_, _ = http
    await operator(numbered, "op-anna", "nl")
    old = await written(numbered.conn, numbered.schema, OLD, OLD, OLD)
    recent = await written(numbered.conn, numbered.schema, T0, T0)
    await feed.prune(numbered, T0, RETENTION, batch=100)
    resumes: list[dict[str, Any]] = [
        {"headers": {"Last-Event-ID": str(old[0])}}, {"params": {"after": old[1]}},
    ]  # fmt: skip
    for resume in resumes:
        gone = await client_.get(FEED, **resume)
        assert gone.status_code == 410, gone.text
        assert gone.headers["content-type"].startswith("application/json"), "a problem, no stream"
        detail = gone.json()["detail"]
        assert "reload" in detail
        assert "without Last-Event-ID" in detail
    for current in (str(old[-1]), "0"):  # it saw the last pruned item; or from the beginning
        answer = await client_.get(
            FEED, params={"once": "true"}, headers={"Last-Event-ID": current}
        )
        assert answer.status_code == 200, answer.text
        assert [int(e["id"]) for e in events_of(answer.text)] == recent
    fresh = await client_.get(FEED, params={"once": "true"})
    assert events_of(fresh.text) == [
        {"id": str(recent[-1]), "event": "ready", "data": {"head": recent[-1]}}
    ]


async def test_after_everything_is_pruned_a_client_at_the_mark_is_current_not_refused(
    numbered: RolledBackStore, http: Http
) -> None:
    client_, _ = http
    await operator(numbered, "op-anna", "nl")
    old = await written(numbered.conn, numbered.schema, OLD, OLD)
    await feed.prune(numbered, T0, RETENTION, batch=100)
    answer = await client_.get(
        FEED, params={"once": "true"}, headers={"Last-Event-ID": str(old[-1])}
    )
    assert answer.status_code == 200, answer.text
    assert events_of(answer.text) == []
    fresh = await client_.get(FEED, params={"once": "true"})
    assert events_of(fresh.text) == [
        {"id": str(old[-1]), "event": "ready", "data": {"head": old[-1]}}
    ]
    ahead = await client_.get(FEED, headers={"Last-Event-ID": str(old[-1] + 1)})
    assert ahead.status_code == 422, "still no item after the mark"


async def test_a_stream_whose_reader_fell_behind_pruning_ends_without_skipping(
    numbered: RolledBackStore,
) -> None:
    await operator(numbered, "op-anna", "nl")
    old = await written(numbered.conn, numbered.schema, OLD, OLD, OLD)
    await written(numbered.conn, numbered.schema, T0)
    follow = Follow(operator_id="op-anna", after=old[0], poll_seconds=0.05, heartbeat_seconds=5)
    chunks = stream(numbered.conn, numbered.schema, FeedHub(), follow)
    assert (await anext(chunks)).startswith(b"retry: ")
    await feed.prune(numbered, T0, RETENTION, batch=100)  # while the stream was connecting
    rest = [chunk async for chunk in chunks]
    assert rest == [], "it ends: the browser's resume from old[0] is answered 410"


def test_the_feed_route_documents_its_410() -> None:
    app = app_on(SimpleNamespace(), {"as": ANNA})  # type: ignore[arg-type]
    responses = app.openapi()["paths"][FEED.replace("op-anna", "{operator_id}")]["get"]
    documented = responses["responses"]["410"]
    assert "reload" in documented["description"]
    assert documented["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")
