"""The inbox's outbox against a real PostgreSQL and the real SMTP test server (aiosmtpd).

A reply is recorded and queued first (`sending.answer`), sent after by the outbox worker:
recorded while the relay is down, it leaves once the relay is back, once, with the Message-ID
its ReplySent names; a process that dies after recording still sends it when a worker starts;
a sent row is never sent again; two workers racing send each row once; a claim that dies
after the relay took the mail is followed by the same bytes again, never by other ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from structlog.testing import capture_logs

from libs.devstack.smtp import Received, SmtpServer, smtp_server
from libs.events.envelope import new_id
from libs.events.inbox import AnswerUndeliverable, ConversationForwarded, ReplySent
from libs.events.values import OfficeHours
from libs.platform.auth import Principal
from libs.platform.clock import FixedClock
from libs.platform.db import migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.inbox import conversations, mailboxes, sending
from services.inbox.domain.mail import parse
from services.inbox.migrations import MIGRATIONS
from services.inbox.settings import InboxSettings
from services.inbox.workers import outbox
from tests.support.processes import free_port

pytestmark = [pytest.mark.infra]

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
STAFF = Principal("staff-1", "Sanne", "staff", None, "token")
ORIGINAL_ID = "m1@example.nl"
EARLIER_ID = "m0@example.nl"


@dataclass
class Desk:
    """The inbox's tables in a schema of their own, a client with a mailbox and one mail."""

    store: EventStore
    client_id: UUID
    conversation_id: UUID

    @property
    def schema(self) -> str:
        return self.store.schema

    async def row(self, outgoing_id: UUID) -> asyncpg.Record:
        found = await self.store.pool.fetchrow(
            f"SELECT * FROM {self.schema}.outgoing WHERE outgoing_id = $1", outgoing_id
        )
        assert found is not None
        return found

    async def events(self) -> list[Any]:
        stored = await self.store.load(conversations.stream(self.conversation_id))
        return [s.event for s in stored]


def settings(port: int, **overrides: Any) -> InboxSettings:
    """The inbox's settings with the relay on `port` and quick retries."""
    values: dict[str, Any] = {
        "relay_port": port, "outbox_retry_base_seconds": 0.05, "outbox_retry_max_seconds": 0.2,
        "outbox_send_seconds": 5, "outbox_lease_seconds": 10, "outbox_poll_seconds": 0.05,
        **overrides,
    }  # fmt: skip
    return InboxSettings(**values)


def incoming() -> bytes:
    """The sender's mail the conversation starts with (itself an answer, so it has references)."""
    message = EmailMessage()
    message["From"] = "Piet Jansen <piet@example.nl>"
    message["To"] = "bakker-abc123@in.frontdesk.example"
    message["Subject"] = "Offerte badkamer"
    message["Message-ID"] = f"<{ORIGINAL_ID}>"
    message["In-Reply-To"] = f"<{EARLIER_ID}>"
    message["References"] = f"<{EARLIER_ID}>"
    message.set_content("Beste meneer, kunt u mij een offerte sturen?")
    return bytes(message)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool of the session's PostgreSQL."""
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    assert created is not None
    yield created
    await created.close()


@pytest.fixture
async def desk(pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    """A fresh inbox schema with a client, its mailbox and a conversation; dropped after."""
    schema = f"t{uuid4().hex[:10]}_inbox"
    async with pool.acquire() as conn:
        await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *MIGRATIONS))
    store = EventStore(pool, schema=schema, service="inbox", prefix="inproc")
    client_id = new_id()
    await pool.execute(
        f"INSERT INTO {schema}.directory_clients (client_id, name, language, office_hours, "
        "updated_at) VALUES ($1, 'Bakker Installatie', 'nl', $2, $3)",
        client_id, OfficeHours().model_dump_json(), AT,
    )  # fmt: skip
    await mailboxes.configure(
        store, client_id, domain="in.frontdesk.example", client_address="info@bakker.nl",
        answer_within_minutes=240, send_as="on_behalf", actor=STAFF.actor(), at=AT,
    )  # fmt: skip
    raw = incoming()
    conversation_id = await conversations.keep(
        store, client_id, parse(raw), raw, via="forward", at=AT, max_attachment_bytes=1 << 20
    )
    assert conversation_id is not None
    try:
        yield Desk(store, client_id, conversation_id)
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")


async def record(desk: Desk, config: InboxSettings, text: str = "De offerte volgt.") -> UUID:
    """The record step alone (what the API does): the reply's outgoing row."""
    answered = await sending.answer(
        desk.store, config, desk.conversation_id, "reply", caller=STAFF, at=AT, text=text
    )
    assert answered["status"] == "replied"
    assert answered["outgoing"]["state"] == "queued"
    return UUID(str(answered["outgoing"]["outgoing_id"]))


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 10) -> None:
    """Wait until `check` holds (looked at often), or fail saying what did not happen."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {within}s waiting until {what}")


def counted(name: str, **labels: str) -> float:
    """A sample of this process's metrics (0 when never counted)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def replies(kind: str, outcome: str) -> float:
    return counted("frontdesk_inbox_replies_total", kind=kind, outcome=outcome)


def to_piet(relay: SmtpServer) -> list[Received]:
    return relay.messages(to="piet@example.nl")


async def test_a_reply_recorded_while_the_relay_is_down_leaves_once_it_is_back(
    desk: Desk,
) -> None:
    port = free_port()  # nothing listens there yet: the relay is down
    config, clock = settings(port), FixedClock(AT)
    sent_before, failed_before = replies("reply", "sent"), replies("reply", "failed")
    outgoing_id = await record(desk, config)
    [reply_sent] = [e for e in await desk.events() if isinstance(e, ReplySent)]

    assert await outbox.send_due(desk.store, config, clock) == 1
    down = await desk.row(outgoing_id)
    assert (down["state"], down["attempts"], down["sent_at"]) == ("queued", 1, None)
    assert "did not take the mail" in down["last_error"]
    assert replies("reply", "failed") == failed_before + 1
    assert replies("reply", "sent") == sent_before  # counted when it leaves, not before

    with smtp_server(port=port) as relay:

        async def sent() -> bool:
            await outbox.send_due(desk.store, config, clock)
            return (await desk.row(outgoing_id))["state"] == "sent"

        await until(sent, "the reply leaves once the relay is back")
        assert await outbox.send_due(desk.store, config, clock) == 0  # a sent row stays sent
        [mail] = to_piet(relay)
    assert mail.message_id == f"<{reply_sent.message_id}>"
    assert mail.message["In-Reply-To"] == f"<{ORIGINAL_ID}>"
    assert mail.message["References"] == f"<{EARLIER_ID}> <{ORIGINAL_ID}>"
    assert mail.subject == "Re: Offerte badkamer"
    assert "De offerte volgt." in mail.body()
    row = await desk.row(outgoing_id)
    assert (row["attempts"], row["sent_at"], row["last_error"]) == (2, AT, None)
    assert replies("reply", "sent") == sent_before + 1
    [view] = await sending.outgoing_of(desk.store.pool, desk.schema, desk.conversation_id)
    assert (view["state"], view["message_id"]) == ("sent", reply_sent.message_id)


async def test_a_reply_recorded_by_a_process_that_died_is_sent_by_the_next_worker(
    desk: Desk,
) -> None:
    with smtp_server() as relay:
        config = settings(relay.port)
        outgoing_id = await record(desk, config)  # then the process dies: nothing was sent
        assert to_piet(relay) == []
        stop, wake = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(
            outbox.send_until_stopped(desk.store, config, FixedClock(AT), wake, stop)
        )
        try:

            async def arrived() -> bool:
                return len(to_piet(relay)) == 1

            await until(arrived, "the worker sends what the dead process recorded")
            await until(lambda: _state_is(desk, outgoing_id, "sent"), "the worker records the send")
            await asyncio.sleep(0.3)  # several more rounds of the running worker
        finally:
            stop.set()
            await running
        assert await outbox.send_due(desk.store, config, FixedClock(AT)) == 0  # a second pass
        [mail] = to_piet(relay)
    [reply_sent] = [e for e in await desk.events() if isinstance(e, ReplySent)]
    assert mail.message_id == f"<{reply_sent.message_id}>"


async def _state_is(desk: Desk, outgoing_id: UUID, state: str) -> bool:
    return bool((await desk.row(outgoing_id))["state"] == state)


async def test_two_workers_racing_send_each_row_once(desk: Desk, database_url: str) -> None:
    with smtp_server() as relay:
        config = settings(relay.port, outbox_batch=1)
        queued = [await record(desk, config, f"Antwoord {n}.") for n in range(8)]
        second = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
        assert second is not None
        replica = EventStore(second, schema=desk.schema, service="inbox", prefix="inproc")
        try:
            await asyncio.gather(
                *(_drain(store, config) for store in (desk.store, replica, desk.store, replica))
            )
        finally:
            await second.close()
        mails = to_piet(relay)
    recorded = {e.message_id for e in await desk.events() if isinstance(e, ReplySent)}
    assert sorted(m.message_id for m in mails) == sorted(f"<{m}>" for m in recorded)
    assert len(mails) == len(queued) == 8
    rows = [await desk.row(outgoing_id) for outgoing_id in queued]
    assert {(r["state"], r["attempts"]) for r in rows} == {("sent", 1)}


async def _drain(store: EventStore, config: InboxSettings) -> None:
    """One worker's rounds until a round finds nothing due."""
    while await outbox.send_due(store, config, FixedClock(AT)):
        pass


async def test_a_claim_that_died_after_the_relay_took_the_mail_resends_the_same_bytes(
    desk: Desk,
) -> None:
    with smtp_server() as relay:
        config = settings(relay.port)
        outgoing_id = await record(desk, config)
        resent_before = counted("frontdesk_inbox_replies_resent_total", kind="reply")
        [claimed] = await outbox.claim(desk.store.pool, desk.schema, limit=5, lease_seconds=0.2)
        await sending.relay(claimed.raw, claimed.mail_from, claimed.rcpt_to, config)
        # ... and the worker dies here, before it records the send (the window).
        assert await outbox.send_due(desk.store, config, FixedClock(AT)) == 0  # lease holds
        await asyncio.sleep(0.3)
        assert await outbox.send_due(desk.store, config, FixedClock(AT)) == 1  # lease ended
        first, again = to_piet(relay)
    assert again.message_id == first.message_id
    assert again.message.as_bytes() == first.message.as_bytes()
    assert counted("frontdesk_inbox_replies_resent_total", kind="reply") == resent_before + 1
    row = await desk.row(outgoing_id)
    assert (row["state"], row["attempts"]) == ("sent", 2)


async def test_a_mail_the_relay_keeps_refusing_is_given_up_with_an_alert(desk: Desk) -> None:
    config, clock = settings(free_port(), outbox_max_attempts=2), FixedClock(AT)
    given_up = counted("frontdesk_inbox_replies_given_up_total", kind="forward")
    forwarded = await sending.answer(
        desk.store, config, desk.conversation_id, "forward", caller=STAFF, at=AT
    )
    outgoing_id = UUID(str(forwarded["outgoing"]["outgoing_id"]))
    [event] = [e for e in await desk.events() if isinstance(e, ConversationForwarded)]
    assert forwarded["outgoing"]["message_id"] == event.message_id
    with capture_logs() as logs:

        async def failed() -> bool:
            await outbox.send_due(desk.store, config, clock)
            return await _state_is(desk, outgoing_id, "failed")

        await until(failed, "the outbox gives up after its attempts")
    assert await outbox.send_due(desk.store, config, clock) == 0  # never tried again
    [alert] = [entry for entry in logs if entry["event"] == "inbox.answer_given_up"]
    assert alert["log_level"] == "error"
    assert alert["alert"]
    assert alert["message_id"] == event.message_id
    row = await desk.row(outgoing_id)
    assert row["attempts"] == 2
    assert counted("frontdesk_inbox_replies_given_up_total", kind="forward") == given_up + 1
    [view] = await sending.outgoing_of(desk.store.pool, desk.schema, desk.conversation_id)
    assert view["state"] == "failed"
    [undelivered] = [e for e in await desk.events() if isinstance(e, AnswerUndeliverable)]
    assert (undelivered.message_id, undelivered.kind) == (event.message_id, "forward")
    conversation = await conversations.get(desk.store.pool, desk.schema, desk.conversation_id, None)
    assert conversation is not None
    assert (conversation["status"], conversation["due_at"]) == ("open", AT)  # owed again, now


def test_a_pause_doubles_per_claim_up_to_its_cap() -> None:
    config = settings(1025, outbox_retry_base_seconds=10, outbox_retry_max_seconds=60)
    assert [outbox.pause_after(n, config) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


def test_a_lease_shorter_than_a_send_is_refused() -> None:
    with pytest.raises(ValidationError, match="outbox_lease_seconds"):
        settings(1025, outbox_send_seconds=60, outbox_lease_seconds=30)
