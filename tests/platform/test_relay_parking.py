"""An event Kafka cannot take is refused at append time; one that got into an outbox anyway
is parked by the relay, which goes on publishing the events after it.

The finding: a secretary book of 5.8 MB passed validation, its event was larger than Kafka
accepts, and the relay retried it forever, so no intake event of any client was published
again.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import httpx
import pytest

from libs.devstack.topics import ensure_topics
from libs.errors import Rejected
from libs.events import new_id
from libs.events.catalogue import decode, encode, topic_for
from libs.events.intake import FaqEntry, SecretaryBookRevised
from libs.platform import kafka
from libs.platform.memory_store import MemoryEventStore
from libs.platform.replay import read_log
from libs.platform.settings import Settings
from libs.platform.store import DEFAULT_MAX_EVENT_BYTES, EventStore, EventTooLarge
from services.intake.app import create_app as create_intake_app
from tests.conftest import World
from tests.support.builders import book_revised, registered
from tests.support.credentials import STAFF
from tests.support.pipeline import metric_value, wait_until
from tests.support.stack import event_store, events_on_topic, outbox_relay, topic_events

pytestmark = [pytest.mark.infra]
INTAKE_APP = "services.intake.app:create_app"
FORM = {"name": "Loodgieter De Vries", "contact_email": "info@devries.example", "language": "nl"}


def book_of(client_id: UUID, entries: int, answer: int = 1000) -> SecretaryBookRevised:
    """A secretary book with `entries` FAQ entries of `answer` characters each."""
    faq = tuple(FaqEntry(question=f"Vraag {i}?", answer="x" * answer) for i in range(entries))
    return book_revised(client_id, faq=faq)


def oversized_book(client_id: UUID) -> SecretaryBookRevised:
    """The finding's book: a FAQ of 500 long answers and long instructions, ~2.6 MB."""
    faq = tuple(FaqEntry(question=f"Vraag {i}?", answer="x" * 5000) for i in range(500))
    return book_revised(client_id, faq=faq, instructions="y" * 50_000)


async def outbox_rows(pool: asyncpg.Pool, schema: str, table: str = "outbox") -> int:
    """How many rows an outbox table holds."""
    return int(await pool.fetchval(f"SELECT count(*) FROM {schema}.{table}"))


async def test_the_store_refuses_an_event_larger_than_kafka_takes_and_changes_nothing(
    db: asyncpg.Pool, world: World
) -> None:
    store = await event_store(db, world, "intake")
    client = new_id()
    await store.append(f"client-{client}", 0, [registered(client)])
    book = oversized_book(client)
    assert len(encode(book)) > 2 * 1024 * 1024
    with pytest.raises(Rejected, match=r"SecretaryBookRevised would be \d+ bytes"):
        await store.append(f"client-{client}", 1, [book_revised(client), book])
    assert await store.version(f"client-{client}") == 1
    assert await outbox_rows(db, store.schema) == 1
    fits = book_of(client, 500, answer=1300)
    assert 600 * 1024 < len(encode(fits)) < DEFAULT_MAX_EVENT_BYTES
    assert await store.append(f"client-{client}", 1, [fits]) == 2


async def test_the_memory_store_keeps_the_same_limit() -> None:
    store = MemoryEventStore(service="intake", max_event_bytes=10_000)
    client = new_id()
    with pytest.raises(EventTooLarge):
        await store.append(f"client-{client}", 0, [registered(client), book_of(client, 20)])
    assert (await store.version(f"client-{client}"), store.outbox) == (0, [])


async def test_intake_refuses_the_findings_book_before_reading_it() -> None:
    settings = Settings.model_validate({"service": "intake", "DATABASE_URL": "postgresql://x@y/z"})
    app = create_intake_app(settings)  # never started: the refusal needs no database
    book = oversized_book(new_id())
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers=STAFF
    ) as http:
        refused = await http.put(f"/clients/{book.client_id}/book", content=encode(book))
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith("request body too large")


async def stuck_in_outbox(pool: asyncpg.Pool, schema: str, event: SecretaryBookRevised) -> None:
    """Put an event into an outbox directly, as if appended before the store checked sizes."""
    await pool.execute(
        f"INSERT INTO {schema}.outbox (event_id, event_type, topic, key, value) "
        "VALUES ($1, $2, $3, $4, $5)",
        event.event_id,
        event.type,
        topic_for("intake", schema.removesuffix("_intake")),
        str(event.client_id),
        encode(event),
    )


async def test_intake_parks_an_oversized_event_and_keeps_publishing_other_clients_events(
    db: asyncpg.Pool, world: World
) -> None:
    intake = world.process(INTAKE_APP, "intake", "intake")
    await asyncio.to_thread(intake.start)
    schema = world.schema("intake")
    stuck = oversized_book(new_id())
    await stuck_in_outbox(db, schema, stuck)
    async with httpx.AsyncClient(base_url=intake.url, timeout=30, headers=STAFF) as http:
        created = [(await http.post("/clients", json=FORM)).json()["client_id"] for _ in range(2)]
    ids = {UUID(c) for c in created}
    await events_on_topic(world, "intake", lambda e: e.client_id in ids, 2, what="registrations")
    parked = await db.fetch(f"SELECT event_id, error FROM {schema}.outbox_parked")
    assert [row["event_id"] for row in parked] == [stuck.event_id]
    assert "MessageSizeTooLarge" in parked[0]["error"]
    assert await outbox_rows(db, schema) == 0
    assert stuck.event_id not in {e.event_id for e in await topic_events(world, "intake")}

    async def counted() -> bool:
        return metric_value(intake.url, "frontdesk_outbox_parked", service="intake") == 1

    await wait_until(counted, within=30, what="the parked gauge")
    assert metric_value(intake.url, "frontdesk_relay_parked_total", service="intake") == 1


async def test_a_record_the_broker_refuses_is_parked_and_the_rows_after_it_are_published(
    db: asyncpg.Pool, world: World
) -> None:
    """The broker's own limit (here a topic's 64 KiB) may be lower than the client's."""
    prefix = f"{world.prefix}small"
    topic = topic_for("intake", prefix)
    await ensure_topics(world.infra.bootstrap, [topic], config={"max.message.bytes": "65536"})
    base = await event_store(db, world, "intake")
    store = EventStore(db, schema=base.schema, service="intake", prefix=prefix)
    clients = [new_id() for _ in range(3)]
    big = book_of(clients[1], 100)  # ~100 KiB
    # The broker refuses a whole record batch for one record in it: the big book shares its
    # client's partition, and so a batch, with that client's other events.
    shared = [registered(clients[1]), big, book_revised(clients[1], 2)]
    events = [registered(clients[0]), *shared, registered(clients[2])]
    async with store.transaction() as conn:
        for event in events:
            await store.append(f"client-{event.client_id}", None, [event], conn=conn)
    stop = asyncio.Event()
    relay = asyncio.create_task(outbox_relay(world, "intake").run(stop))

    async def emptied() -> bool:
        return await outbox_rows(db, base.schema) == 0

    try:
        await wait_until(emptied, within=60, what="the relay to empty the outbox")
    finally:
        stop.set()
        await relay
    parked = await db.fetch(f"SELECT event_id, error FROM {base.schema}.outbox_parked")
    assert [row["event_id"] for row in parked] == [big.event_id]
    assert "TooLarge" in parked[0]["error"]
    published = [decode(value) for value in await _values(world, topic)]
    assert {e.event_id for e in published} == {e.event_id for e in events if e is not big}
    of_shared_client = [e.event_id for e in published if e.client_id == clients[1]]
    assert of_shared_client == [shared[0].event_id, shared[2].event_id]  # still in order


async def _values(world: World, topic: str) -> list[bytes]:
    """The values of every record on a topic."""
    consumer = kafka.plain_consumer(world.infra.bootstrap, client_id="test-parking-reader")
    await consumer.start()
    try:
        return [record.value async for record in read_log(consumer, [topic])]
    finally:
        await consumer.stop()
