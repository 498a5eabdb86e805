"""A running notify service fed through Kafka, shared by the infra tests of this package.

Intake's, calls' and routing's events are appended straight into event stores in test schemas;
one relay process per store publishes them, so notify learns them exactly as in production.
Mail goes to a real SMTP server (aiosmtpd), SMS and chat to a real stand-in HTTP server. Notify
runs on a simulated clock of its own (a private clock database), set to a working morning.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from libs.devstack.smtp import SmtpServer
from libs.devstack.topics import ensure_topics
from libs.events import (
    CallEnded,
    CallReceived,
    ClientRegistered,
    Event,
    NoteRecorded,
    NotificationPreferences,
    OfficeHours,
    PerCallPlan,
    decode,
    new_id,
)
from libs.events.catalogue import ALL_SERVICES, dead_letter_topic, topic_for
from libs.events.values import Language
from libs.office_hours import office_open
from libs.platform import kafka
from libs.platform.db import migrate
from libs.platform.replay import read_log
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.notify.domain import Mode
from tests.conftest import Infrastructure, World
from tests.notify.stand_in import StandIn
from tests.support.clock import private_clock
from tests.support.pipeline import RELAY, wait_until
from tests.support.processes import ServiceProcess

NOTIFY_APP = "services.notify.app:create_app"
AMS = ZoneInfo("Europe/Amsterdam")
SMS_TOKEN = "test-sms-token"
ACK_URL = "https://frontdesk.test/escalations/{escalation_id}/ack?attempt={attempt}"
SOURCES = ("intake", "calls", "routing")


@dataclass
class Stack:
    """The notify process, the stores feeding it, and the servers it delivers to."""

    world: World
    pool: asyncpg.Pool
    stores: dict[str, EventStore]
    notify: ServiceProcess
    smtp: SmtpServer
    stand_in: StandIn
    http: httpx.AsyncClient
    day: date
    clock_dsn: str

    @property
    def schema(self) -> str:
        """The notify service's schema."""
        return self.world.schema("notify")

    def at(self, hour: int, minute: int = 0, days: int = 0) -> datetime:
        """An Amsterdam wall-clock time on the stack's working day (or days later)."""
        local = datetime.combine(self.day + timedelta(days=days), time(hour, minute), AMS)
        return local.astimezone(UTC)


def working_day() -> date:
    """A working day a week or more ahead, followed by another working day."""
    day = datetime.now(UTC).date() + timedelta(days=7)
    hours = OfficeHours()
    while not all(
        office_open(hours, datetime.combine(day + timedelta(days=d), time(10), AMS)) for d in (0, 1)
    ):
        day += timedelta(days=1)
    return day


def notify_env(smtp: SmtpServer, stand_in: StandIn, clock_dsn: str) -> dict[str, str]:
    """Notify's settings: the test servers, short leases and quick retries."""
    return {
        "FRONTDESK_CLOCK": "simulated",
        "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
        "FRONTDESK_NOTIFY_SMTP_HOST": smtp.host,
        "FRONTDESK_NOTIFY_SMTP_PORT": str(smtp.port),
        "FRONTDESK_NOTIFY_SMTP_TIMEOUT_SECONDS": "1",
        "FRONTDESK_NOTIFY_SMS_URL": f"{stand_in.url}/sms",
        "FRONTDESK_NOTIFY_SMS_TOKEN": SMS_TOKEN,
        "FRONTDESK_NOTIFY_CHAT_ALLOW_HTTP": "true",
        "FRONTDESK_NOTIFY_HTTP_TIMEOUT_SECONDS": "1",
        "FRONTDESK_NOTIFY_ACK_URL_TEMPLATE": ACK_URL,
        "FRONTDESK_NOTIFY_SEND_ATTEMPTS": "2",
        "FRONTDESK_NOTIFY_RETRY_BASE_SECONDS": "0.1",
        "FRONTDESK_NOTIFY_LEASE_SECONDS": "3",
        "FRONTDESK_NOTIFY_SENDER_POLL_SECONDS": "0.2",
        "FRONTDESK_NOTIFY_SCHEDULE_SECONDS": "1",
    }


@pytest.fixture(scope="package")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Notify, three relays, an SMTP server and the SMS/chat stand-in, for the package."""
    world = World(infra, f"t{uuid4().hex[:10]}", Path(tmp_path_factory.mktemp("notify")))
    topics = [topic_for(s, world.prefix) for s in ALL_SERVICES]
    await ensure_topics(
        infra.bootstrap, topics + [dead_letter_topic(s, world.prefix) for s in ALL_SERVICES]
    )
    pool = await asyncpg.create_pool(infra.dsn, min_size=1, max_size=5)
    assert pool is not None
    stores = {s: await _store(pool, world, s) for s in SOURCES}
    day = working_day()
    start = datetime.combine(day, time(9), AMS).astimezone(UTC)
    clock_dsn = await private_clock(infra.dsn, f"{world.prefix}_clock", start)
    smtp, stand_in = SmtpServer().start(), StandIn().start()
    notify = world.process(NOTIFY_APP, "notify", "notify", **notify_env(smtp, stand_in, clock_dsn))
    processes = [world.process(RELAY, s, s) for s in SOURCES] + [notify]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
        async with httpx.AsyncClient(base_url=notify.url, timeout=10) as http:
            yield Stack(world, pool, stores, notify, smtp, stand_in, http, day, clock_dsn)
    finally:
        for proc in world.processes:
            proc.stop()
        smtp.stop()
        stand_in.stop()
        await pool.close()


async def _store(pool: asyncpg.Pool, world: World, service: Any) -> EventStore:
    async with pool.acquire() as conn:
        await migrate(conn, world.schema(service), PLUMBING_MIGRATIONS)
    return EventStore(pool, schema=world.schema(service), service=service, prefix=world.prefix)


async def register(
    stack: Stack,
    *,
    mode: Mode,
    language: Language,
    recipients: Sequence[str] | None = None,
    at: datetime | None = None,
) -> tuple[UUID, str]:
    """A client registered in intake (at 08:00 on the stack's day); its id and first recipient."""
    client_id = new_id()
    recipients = tuple(recipients or (f"{client_id.hex[:12]}@bakker.test",))
    occurred_at = at or stack.at(8)
    event = ClientRegistered(
        client_id=client_id, occurred_at=occurred_at, name=f"Bakker {client_id.hex[-6:]}",
        contact_email=recipients[0], language=language, plan=PerCallPlan(),
        notification=NotificationPreferences(mode=mode, recipients=recipients),
    )  # fmt: skip
    await stack.stores["intake"].append(f"client-{client_id}", None, [event])
    return client_id, recipients[0]


async def noted_call(stack: Stack, client_id: UUID, received_at: datetime, message: str) -> UUID:
    """A call to the client with the operator's note, as calls records them."""
    call_id = new_id()
    later = received_at + timedelta(minutes=4)
    events: list[Event] = [
        CallReceived(
            client_id=client_id, occurred_at=received_at, call_id=call_id,
            dialled_number="+31851234567", caller_number="+31612345678",
            received_at=received_at, book_version=1, office_open=True,
        ),
        NoteRecorded(
            client_id=client_id, occurred_at=later, call_id=call_id, operator_id="op-anna",
            book_version=1, caller_name="Piet Jansen", caller_company="Jansen & Zonen",
            caller_number="+31687654321", message=message, follow_up="call_back",
            actions_taken="Agenda checked", information_given="Opening hours",
        ),
        CallEnded(client_id=client_id, occurred_at=later, call_id=call_id, ended_at=later),
    ]  # fmt: skip
    await stack.stores["calls"].append(f"call-{call_id}", 0, events)
    return call_id


async def notify_events(stack: Stack, client_id: UUID, kind: str, count: int) -> list[Any]:
    """The client's events of one type on notify's topic, once there are `count`."""
    found: list[Any] = []

    async def published() -> bool:
        events = await topic_events(stack, "notify")
        found[:] = [e for e in events if e.client_id == client_id and e.type == kind]
        return len(found) >= count

    await wait_until(published, within=60, what=f"{count} {kind} of client {client_id}")
    return found


async def topic_events(stack: Stack, service: str) -> list[Event]:
    """Every event on a service's topic in this stack."""
    consumer = kafka.plain_consumer(stack.world.infra.bootstrap, client_id="test-notify-reader")
    await consumer.start()
    try:
        topic = stack.world.topic(service)
        return [decode(record.value) async for record in read_log(consumer, [topic])]
    finally:
        await consumer.stop()


async def mails_to(stack: Stack, recipient: str, count: int) -> list[Any]:
    """Mails the SMTP server accepted for a recipient, once there are `count`."""

    async def arrived() -> bool:
        return len(stack.smtp.messages(recipient)) >= count

    await wait_until(arrived, within=60, what=f"{count} mails to {recipient}")
    return stack.smtp.messages(recipient)


async def notifications(stack: Stack, client_id: UUID) -> list[dict[str, Any]]:
    """GET /clients/{id}/notifications."""
    response = await stack.http.get(f"/clients/{client_id}/notifications")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def until_noted(stack: Stack, client_id: UUID, count: int) -> None:
    """Wait until notify's projection holds `count` noted calls of the client."""

    async def projected() -> bool:
        exists = await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.calls")
        if exists is None:
            return False
        n = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.calls WHERE client_id = $1 AND messages > 0",
            client_id,
        )
        return int(n) >= count

    await wait_until(projected, within=60, what=f"notify to see {count} notes of {client_id}")
