"""A running routing service fed by seeded intake and calls event stores, shared by a module.

Intake's and calls' events are appended straight into their event stores in test schemas;
their outbox relays publish them, so routing learns them through Kafka exactly as in
production. The two relays run inside the test process (the same OutboxRelay a relay process
runs): a process costs seconds to start on a busy machine. Routing itself is a real process on
the shared simulation clock, which the tests move.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from libs.devstack.topics import ensure_topics
from libs.events import (
    CallEnded,
    CallReceived,
    ClientRegistered,
    EscalationContact,
    EscalationRequested,
    Event,
    NotificationPreferences,
    OfficeHours,
    PerCallPlan,
    SecretaryBookRevised,
    UrgencyRule,
    decode,
    new_id,
)
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.events.envelope import Service
from libs.events.intake import Channel
from libs.events.values import Language
from libs.platform import kafka
from libs.platform.db import migrate
from libs.platform.relay import OutboxRelay
from libs.platform.replay import read_log
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from tests.conftest import Infrastructure, World
from tests.support.pipeline import metric_value, wait_until
from tests.support.processes import ServiceProcess

ROUTING_APP = "services.routing.app:create_app"
TWILIO_TOKEN = "test-routing-twilio-token"
ACK_SECRET = "test-routing-ack-secret"
PUBLIC_BASE_URL = "https://routing.frontdesk.example"
ROUTING_ENV = {
    "FRONTDESK_CLOCK": "simulated",
    "FRONTDESK_ROUTING_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "FRONTDESK_ROUTING_ACK_SECRET": ACK_SECRET,
    "FRONTDESK_ROUTING_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "FRONTDESK_ROUTING_TIMER_POLL_SECONDS": "0.5",
}


@dataclass
class Stack:
    """The routing process, the intake and calls stores feeding it, and an HTTP client."""

    world: World
    pool: asyncpg.Pool
    intake: EventStore
    calls: EventStore
    routing: ServiceProcess
    http: httpx.AsyncClient

    @property
    def schema(self) -> str:
        """The routing service's schema in this stack."""
        return self.world.schema("routing")


@dataclass(frozen=True)
class Client:
    """A client seeded into intake's store."""

    client_id: UUID
    language: Language


async def _store(pool: asyncpg.Pool, world: World, service: Service) -> EventStore:
    async with pool.acquire() as conn:
        await migrate(conn, world.schema(service), PLUMBING_MIGRATIONS)
    return EventStore(pool, schema=world.schema(service), service=service, prefix=world.prefix)


@asynccontextmanager
async def running_stack(infra: Infrastructure, home: Path) -> AsyncIterator[Stack]:
    """A routing process, with relays for intake and calls, on fresh topics and schemas."""
    world = World(infra, f"t{uuid4().hex[:10]}", home)
    topics = [topic_for(s, world.prefix) for s in ALL_SERVICES]
    await ensure_topics(
        infra.bootstrap, topics + [dead_letter_topic(s, world.prefix) for s in ALL_SERVICES]
    )
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=5)
    assert pool is not None
    intake, calls = await _store(pool, world, "intake"), await _store(pool, world, "calls")
    stop = asyncio.Event()
    relays = [asyncio.create_task(_relay(world, s).run(stop)) for s in ("intake", "calls")]
    routing = world.process(ROUTING_APP, "routing", "routing", **ROUTING_ENV)
    try:
        routing.start()
        async with httpx.AsyncClient(base_url=routing.url, timeout=10) as http:
            yield Stack(world, pool, intake, calls, routing, http)
    finally:
        for proc in world.processes:
            proc.stop()
        stop.set()
        await asyncio.gather(*relays)
        await pool.close()


@pytest.fixture(scope="package")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One routing stack shared by the API and fuzz tests (a process takes seconds to start)."""
    async with running_stack(infra, tmp_path_factory.mktemp("routing")) as shared:
        yield shared


def _relay(world: World, service: Service) -> OutboxRelay:
    bootstrap = world.infra.bootstrap
    return OutboxRelay(
        world.infra.dsn,
        schema=world.schema(service),
        service=service,
        producer_factory=lambda: kafka.idempotent_producer(bootstrap, client_id=f"{service}-relay"),
        poll_seconds=0.2,
    )


def contacts(n: int = 3) -> tuple[EscalationContact, ...]:
    """A chain of `n` contacts, each with a phone and an e-mail address."""
    return tuple(
        EscalationContact(name=f"Contact {i}", phone=f"+3161000000{i}", email=f"c{i}@bakker.nl")
        for i in range(n)
    )


async def seed_client(
    stack: Stack,
    *,
    language: Language = "nl",
    channels: tuple[Channel, ...] = ("sms",),
    ack_timeout_seconds: int = 600,
    office_hours: OfficeHours | None = None,
) -> Client:
    """Register a client whose book (v1) escalates leaks to three contacts; wait for routing."""
    client_id = new_id()
    rule = UrgencyRule(
        kind="leak", description="Leak", channels=channels, ack_timeout_seconds=ack_timeout_seconds
    )
    events: list[Event] = [
        ClientRegistered(
            client_id=client_id, occurred_at=_now(), name=f"Bakker {client_id.hex[-6:]}",
            contact_email="jan@bakker.nl", language=language, plan=PerCallPlan(),
            notification=NotificationPreferences(recipients=("jan@bakker.nl",)),
            office_hours=office_hours or OfficeHours(),
        ),
        SecretaryBookRevised(
            client_id=client_id, occurred_at=_now(), book_version=1, greeting="Bakker, goedemorgen",
            urgency_rules=(rule,), escalation_contacts=contacts(),
        ),
    ]  # fmt: skip
    await stack.intake.append(f"client-{client_id}", None, events)
    await _until_known(stack, client_id)
    return Client(client_id, language)


async def _until_known(stack: Stack, client_id: UUID) -> None:
    async def known() -> bool:
        found = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.directory_books WHERE client_id = $1", client_id
        )
        return bool(found)

    await wait_until(known, within=30, what=f"routing to learn client {client_id}")


async def receive(stack: Stack, client: Client, received_at: str) -> CallReceived:
    """A call to the client, as the calls service records it."""
    at = datetime.fromisoformat(received_at)
    event = CallReceived(
        call_id=new_id(), client_id=client.client_id, occurred_at=at, received_at=at,
        dialled_number="+31851234567", caller_number="+31612345678", book_version=1,
        office_open=True,
    )  # fmt: skip
    await stack.calls.append(f"call-{event.call_id}", 0, [event])
    return event


async def end_call(stack: Stack, call: CallReceived) -> None:
    """The call ended."""
    ended = CallEnded(**_call_envelope(call), ended_at=_now())
    await stack.calls.append(f"call-{call.call_id}", None, [ended])


async def escalate(stack: Stack, call: CallReceived) -> EscalationRequested:
    """The operator escalates the call under the book's leak rule (v1 on screen)."""
    event = EscalationRequested(
        **_call_envelope(call), escalation_id=new_id(), urgency_kind="leak",
        reason="water everywhere", book_version=1,
    )  # fmt: skip
    await stack.calls.append(f"call-{call.call_id}", None, [event])
    return event


def _call_envelope(call: CallReceived) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "client_id": call.client_id,
        "occurred_at": _now(),
        "correlation_id": call.correlation_id,
    }


async def routing_of(stack: Stack, call_id: UUID) -> dict[str, Any]:
    """GET /calls/{id}/routing once routing has routed the call."""
    found: dict[str, Any] = {}

    async def routed() -> bool:
        response = await stack.http.get(f"/calls/{call_id}/routing")
        found.update(response.json() if response.status_code == 200 else {})
        return found.get("route") is not None

    await wait_until(routed, within=30, what=f"routing to route call {call_id}")
    return found


async def escalation(stack: Stack, escalation_id: UUID, attempts: int) -> dict[str, Any]:
    """GET /escalations/{id} once it has made `attempts` attempts (or ended)."""
    found: dict[str, Any] = {}

    async def reached() -> bool:
        response = await stack.http.get(f"/escalations/{escalation_id}")
        found.update(response.json() if response.status_code == 200 else {})
        return len(found.get("attempts", ())) >= attempts

    await wait_until(reached, within=30, what=f"{attempts} attempts of {escalation_id}")
    return found


async def routing_events(stack: Stack) -> list[Event]:
    """Every event on the routing topic of this stack, duplicates from redelivery removed."""
    consumer = kafka.plain_consumer(stack.world.infra.bootstrap, client_id="test-routing-reader")
    await consumer.start()
    try:
        records = [r async for r in read_log(consumer, [stack.world.topic("routing")])]
    finally:
        await consumer.stop()
    unique: dict[UUID, Event] = {}
    for record in records:
        event = decode(record.value)
        unique.setdefault(event.event_id, event)
    return list(unique.values())


async def clock(stack: Stack, **change: Any) -> datetime:
    """Move the shared clock through routing's POST /clock (or just read it)."""
    if change:
        response = await stack.http.post("/clock", json=change)
        assert response.status_code == 200, response.text
    else:
        response = await stack.http.get("/clock")
    return datetime.fromisoformat(response.json()["now"])


def timer_rounds(stack: Stack) -> float:
    """How many rounds routing's escalation timer loop has finished so far."""
    return metric_value(stack.routing.url, "frontdesk_ticks_total", ticker="escalation-timers")


async def timers_ran(stack: Stack, *, since: float) -> None:
    """Wait until the timer loop finished two more rounds: one at least saw the new time."""

    async def two_more() -> bool:
        return timer_rounds(stack) >= since + 2

    await wait_until(two_more, within=30, what="two rounds of the escalation timers")


async def put_operator(stack: Stack, operator_id: str, *languages: Language) -> dict[str, Any]:
    """Add an operator and make them available."""
    body = {"name": operator_id.title(), "languages": list(languages)}
    assert (await stack.http.put(f"/operators/{operator_id}", json=body)).status_code == 200
    response = await stack.http.put(
        f"/operators/{operator_id}/presence", json={"presence": "available"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _now() -> datetime:
    return datetime.now(UTC)
