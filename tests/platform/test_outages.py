"""Every fault heals itself: PostgreSQL restarts, a broker that is not there yet.

These tests restart PostgreSQL, so they run against a server of their own (started once for
the module), never the session's shared one; Kafka is the session's broker unless a test
needs one that starts late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from libs.devstack.kafka import LocalKafka, default_cache_dir
from libs.devstack.postgres import LocalPostgres
from libs.devstack.topics import ensure_topics
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, encode, topic_for
from libs.events.envelope import Event
from libs.platform import kafka
from libs.platform.clock import SystemClock, read_clock, set_clock
from libs.platform.consumer import DeadLetters, HandlerContext, MessageProcessor, Subscription
from libs.platform.db import Connection
from libs.platform.kafka import ProducerFactory
from libs.platform.outages import DATABASE_OUTAGES
from libs.platform.relay import OutboxRelay, RelayState
from libs.platform.store import EventStore
from tests.conftest import Infrastructure, World
from tests.support.credentials import STAFF
from tests.support.pipeline import RELAY, call_received, calls_store, wait_until
from tests.support.processes import ServiceProcess, free_port

pytestmark = [pytest.mark.infra, pytest.mark.slow]
INTAKE = "services.intake.app:create_app"
BILLING = "services.billing.app:create_app"


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A PostgreSQL server these tests may stop and restart."""
    server = LocalPostgres(tmp_path_factory.mktemp("own-pg") / "pg")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def pg_world(
    infra: Infrastructure, own_postgres: LocalPostgres, tmp_path: Path
) -> AsyncIterator[World]:
    """A test world on the session's broker and the restartable PostgreSQL, running again."""
    own_postgres.start()
    world = World(Infrastructure(infra.bootstrap, own_postgres.dsn(), None), _prefix(), tmp_path)
    await ensure_topics(infra.bootstrap, _topics(world.prefix))
    yield world
    for proc in world.processes:
        proc.stop()
    own_postgres.start()


def _prefix() -> str:
    return f"t{uuid4().hex[:10]}"


def _topics(prefix: str) -> list[str]:
    return [topic_for(s, prefix) for s in ALL_SERVICES] + [
        dead_letter_topic(s, prefix) for s in ALL_SERVICES
    ]


async def _restart(server: LocalPostgres, down_for: float = 0.5) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(down_for)
    await asyncio.to_thread(server.start)


async def _ready(http: httpx.AsyncClient) -> dict[str, object]:
    answer = await http.get("/health/ready")
    body: dict[str, object] = answer.json()
    return {**body, "status": answer.status_code}


# -- the relay ---------------------------------------------------------------------------------

OUTAGES = [
    asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    ConnectionResetError("Connection reset by peer"),
]


class StumblingRelay(OutboxRelay):
    """A relay whose first batch after each publish meets `error`, as during a restart."""

    def __init__(self, *args: object, error: BaseException, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.error, self.stumbles, self.states_seen = error, 0, set[RelayState]()

    def _set_state(self, state: RelayState) -> None:
        self.states_seen.add(state)
        super()._set_state(state)

    async def _publish_batch(self, conn: Connection) -> int:
        if self.stumbles < 3:
            self.stumbles += 1
            raise self.error
        return await super()._publish_batch(conn)


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
async def test_a_relay_that_meets_a_database_error_keeps_publishing(
    world: World, db: asyncpg.Pool, error: BaseException
) -> None:
    store = await calls_store(db, world.schema("calls"), world.prefix)
    relay = StumblingRelay(
        world.infra.dsn, schema=store.schema, service="calls", error=error,
        producer_factory=_producer(world), poll_seconds=0.1,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        event = call_received(uuid4())
        await store.append(f"call-{event.call_id}", 0, [event])
        assert await _published(world, [str(event.event_id)])
        assert relay.stumbles == 3
        assert RelayState.DEGRADED in relay.states_seen  # readiness saw it while it was down
        assert relay.state == RelayState.ACTIVE
        assert not running.done()
    finally:
        stop.set()
        await running


def _producer(world: World) -> ProducerFactory:
    return lambda: kafka.idempotent_producer(world.infra.bootstrap, client_id="stumbling")


async def _published(world: World, event_ids: list[str], within: float = 30) -> bool:
    """Every one of these events arrived on the calls topic."""
    consumer = AIOKafkaConsumer(
        world.topic("calls"), bootstrap_servers=world.infra.bootstrap,
        auto_offset_reset="earliest", group_id=None,
    )  # fmt: skip
    await consumer.start()
    wanted, seen = set(event_ids), set[str]()
    try:
        async with asyncio.timeout(within):
            while not wanted <= seen:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen |= {dict(r.headers)["event_id"].decode() for r in records}
    finally:
        await consumer.stop()
    return True


async def test_a_relay_under_load_survives_many_fast_postgres_restarts(
    pg_world: World, own_postgres: LocalPostgres
) -> None:
    dsn = own_postgres.dsn()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    assert pool is not None
    store = await calls_store(pool, pg_world.schema("calls"), pg_world.prefix)
    relay = OutboxRelay(dsn, schema=store.schema, service="calls",
                        producer_factory=_producer(pg_world), poll_seconds=0.2)  # fmt: skip
    stop, enough = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    appending = asyncio.create_task(_append_every(store, 0.02, enough))
    try:
        for _ in range(30):  # the relay used to die within 3 to 19 of these
            await asyncio.sleep(0.3)
            await _restart(own_postgres, down_for=0.1)
        enough.set()
        await appending
        assert not running.done(), "the relay task ended"
        recorded = await _recorded_event_ids(dsn, store.schema)
        assert len(recorded) > 50
        assert await _published(pg_world, recorded, within=30)
    finally:
        stop.set()
        await running
        await pool.close()


async def _append_every(store: EventStore, seconds: float, stop: asyncio.Event) -> None:
    """Append a call every few milliseconds, carrying on through the outages."""
    while not stop.is_set():
        event = call_received(uuid4())
        with contextlib.suppress(*DATABASE_OUTAGES):
            await store.append(f"call-{event.call_id}", 0, [event])
        await asyncio.sleep(seconds)


async def _recorded_event_ids(dsn: str, schema: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            str(r["event_id"]) for r in await conn.fetch(f"SELECT event_id FROM {schema}.events")
        ]
    finally:
        await conn.close()


async def test_the_outbox_drains_after_a_postgres_restart_with_no_new_append(
    pg_world: World, own_postgres: LocalPostgres
) -> None:
    relay = pg_world.process(RELAY, "calls", "calls")
    relay.start()
    pool = await asyncpg.create_pool(own_postgres.dsn(), min_size=1, max_size=2)
    assert pool is not None
    store = EventStore(pool, schema=pg_world.schema("calls"), service="calls",
                       prefix=pg_world.prefix)  # fmt: skip
    first = call_received(uuid4())
    await store.append(f"call-{first.call_id}", 0, [first])
    assert await _published(pg_world, [str(first.event_id)])
    await pool.close()
    async with httpx.AsyncClient(base_url=relay.url, timeout=10, headers=STAFF) as http:
        await asyncio.to_thread(own_postgres.stop)
        await wait_until(lambda: _not_ready(http), within=20, what="503 while PostgreSQL is down")
        await asyncio.to_thread(own_postgres.start)
        stranded = await _insert_without_waking(own_postgres.dsn(), pg_world)
        assert await _published(pg_world, [stranded], within=20)
        await wait_until(lambda: _is_ready(http), within=30, what="ready again")


async def _not_ready(http: httpx.AsyncClient) -> bool:
    state = await _ready(http)
    return state["status"] == 503 and state["relay"] != "active"


async def _is_ready(http: httpx.AsyncClient) -> bool:
    return (await _ready(http))["status"] == 200


async def _insert_without_waking(dsn: str, world: World) -> str:
    """An outbox row written without the notification an append sends: only a sweep finds it."""
    conn = await asyncpg.connect(dsn)
    event = call_received(uuid4())
    try:
        await conn.execute(
            f"INSERT INTO {world.schema('calls')}.outbox (event_id, event_type, topic, key, value)"
            " VALUES ($1, $2, $3, $4, $5)",
            event.event_id, event.type, world.topic("calls"), str(event.client_id),
            encode(event),
        )  # fmt: skip
    finally:
        await conn.close()
    return str(event.event_id)


# -- the clock ---------------------------------------------------------------------------------


async def test_the_shared_clock_follows_after_a_postgres_restart(
    pg_world: World, own_postgres: LocalPostgres
) -> None:
    proc = pg_world.process(RELAY, "calls", "calls", FRONTDESK_CLOCK="simulated")
    proc.start()
    async with httpx.AsyncClient(base_url=proc.url, timeout=10, headers=STAFF) as http:
        await wait_until(lambda: _is_ready(http), within=30, what="ready")
        await _restart(own_postgres)
        moved = await _move_clock(own_postgres.dsn(), timedelta(days=2))
        await wait_until(lambda: _clock_is(http, moved), within=15, what="the clock followed")
        answer = await http.post("/clock", json={"advance_seconds": 3600})
        assert answer.status_code == 200, answer.text
        assert _instant(answer.json()) == moved + timedelta(hours=1)
        await wait_until(lambda: _clock_state_is(http, "following"), within=15, what="following")


async def _move_clock(dsn: str, by: timedelta) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        return await set_clock(conn, await read_clock(conn) + by)
    finally:
        await conn.close()


def _instant(body: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(body["now"]))


async def _clock_is(http: httpx.AsyncClient, instant: datetime) -> bool:
    return _instant((await http.get("/clock")).json()) == instant


async def _clock_state_is(http: httpx.AsyncClient, state: str) -> bool:
    return (await _ready(http))["clock"] == state


# -- HTTP while PostgreSQL is down -------------------------------------------------------------


async def test_requests_get_503_with_retry_after_while_postgres_is_down(
    pg_world: World, own_postgres: LocalPostgres
) -> None:
    intake = pg_world.process(INTAKE, "intake", "intake")
    intake.start()
    async with httpx.AsyncClient(base_url=intake.url, timeout=15, headers=STAFF) as http:
        await asyncio.to_thread(own_postgres.stop)
        for _ in range(3):  # the pool's connections die one by one: every request is a 503
            for answer in (await http.post("/clients", json=_client()),
                           await http.get(f"/clients/{uuid4()}")):  # fmt: skip
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["Retry-After"]) > 0
                assert "unavailable" in answer.json()["detail"]
        await asyncio.to_thread(own_postgres.start)
        await wait_until(lambda: _created(http), within=30, what="201 once PostgreSQL is back")


async def _created(http: httpx.AsyncClient) -> bool:
    answer = await http.post("/clients", json=_client())
    assert answer.status_code in (201, 503), answer.text
    return answer.status_code == 201


def _client() -> dict[str, object]:
    return {"name": "Loodgieter Jansen", "contact_email": "info@jansen.example", "language": "nl"}


# -- start-up ----------------------------------------------------------------------------------


async def test_a_service_started_before_kafka_and_its_database_becomes_ready_once_they_are(
    own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port(),
                        cache_dir=default_cache_dir())  # fmt: skip
    dsn = own_postgres.dsn()  # (asking for it starts the server: ask before stopping it)
    await asyncio.to_thread(own_postgres.stop)
    world = World(Infrastructure(broker.bootstrap_servers, dsn, broker), _prefix(), tmp_path)
    billing = world.process(BILLING, "billing", "billing")
    try:
        await _comes_up_late(billing, own_postgres, broker, world.prefix)
    finally:
        billing.stop()
        await broker.stop()
        own_postgres.start()


async def _comes_up_late(
    billing: ServiceProcess, pg: LocalPostgres, broker: LocalKafka, prefix: str
) -> None:
    billing.start(wait_started=False)
    async with httpx.AsyncClient(base_url=billing.url, timeout=10, headers=STAFF) as http:
        await asyncio.sleep(3)
        state = await _ready(http)
        assert state["status"] == 503, state
        assert state["started"] is False, state
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/invoices")).status_code == 503
        await asyncio.to_thread(pg.start)
        await wait_until(lambda: _started(http), within=30, what="start-up once PostgreSQL is up")
        assert (await _ready(http))["status"] == 503  # no broker yet
        await broker.start()
        await ensure_topics(broker.bootstrap_servers, _topics(prefix))
        await wait_until(lambda: _is_ready(http), within=60, what="ready once Kafka is up")
    assert billing.proc is not None
    assert billing.proc.poll() is None


async def _started(http: httpx.AsyncClient) -> bool:
    return (await _ready(http))["started"] is True


# -- consumers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
async def test_a_database_outage_in_a_handler_is_waited_out_never_dead_lettered(
    world: World, db: asyncpg.Pool, error: Exception
) -> None:
    store = await calls_store(db, world.schema("billing"), world.prefix)
    failures = [error, error]

    async def handler(_event: Event, _ctx: HandlerContext) -> None:
        if failures:
            raise failures.pop()

    sub = Subscription("outage-test", (world.topic("calls"),), {"CallReceived": handler})
    dead_letters = DeadLetters(None, dead_letter_topic("billing", world.prefix))
    processor = MessageProcessor(sub, store, dead_letters, now=SystemClock().now, retry_base=0.01)
    record = _record(world, call_received(uuid4()))
    for _ in range(2):
        with pytest.raises(type(error)):
            await processor.process_batch([record])
    assert await processor.process_batch([record]) == ["handled"]
    assert dead_letters.skipped == []


def _record(world: World, event: Event) -> ConsumerRecord:
    value = encode(event)
    return ConsumerRecord(
        world.topic("calls"), 0, 7, 0, 0, str(event.client_id).encode(), value, None,
        len(str(event.client_id)), len(value), [("event_id", str(event.event_id).encode())],
    )  # fmt: skip
