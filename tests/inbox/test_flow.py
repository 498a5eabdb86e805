"""The inbox service as a process on the simulated clock: a client's forwarded mail over real
SMTP becomes one conversation (however often it is delivered), due in office time; unknown
recipients and oversized mail are refused at the door; unanswered, it escalates; the reply
reaches the sender through the relay, threaded to the original; no request gets a 5xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

import aiosmtplib
import httpx
import pytest
import schemathesis

from libs.devstack.dovecot import LocalDovecot
from libs.devstack.smtp import Received, SmtpServer, smtp_server
from libs.events.inbox import ConversationEscalated, ConversationOpened, MailReceived
from libs.events.routing import OperatorRegistered
from tests.support.builders import registered
from tests.support.clock import amsterdam, private_clock, weekday_hours, working_weekend
from tests.support.credentials import STAFF
from tests.support.dovecot import PASSWORD, USER
from tests.support.fuzz import aim_path_at, assert_no_server_error, operations_of
from tests.support.pipeline import wait_until
from tests.support.stack import (
    Infrastructure,
    Stack,
    expect,
    get_when,
    private_world,
    running_stack,
    topic_events,
)

pytestmark = [pytest.mark.infra]

EIGHT_TO_FIVE = weekday_hours(8, 17)


FRIDAY, MONDAY = working_weekend(EIGHT_TO_FIVE)
FRIDAY_1650 = amsterdam(FRIDAY, 16, 50)
MONDAY_1150 = amsterdam(MONDAY, 11, 50)


@dataclass
class Inbox:
    """The inbox process (as `stack`), its SMTP port, the relay, and a client with a mailbox."""

    stack: Stack
    smtp_port: int
    relay: SmtpServer
    client_id: UUID
    address: str

    @property
    def http(self) -> httpx.AsyncClient:
        return self.stack.http

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(message, hostname="127.0.0.1", port=self.smtp_port, timeout=10)


@pytest.fixture(scope="module")
def relay() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
async def inbox(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory, relay: SmtpServer
) -> AsyncIterator[Inbox]:
    home = tmp_path_factory.mktemp("inbox-flow")
    async with private_world(infra, home) as world:
        clock_dsn = await private_clock(infra.dsn, world.schema("clock"), FRIDAY_1650)
        env = {
            "FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
            "FRONTDESK_INBOX_RELAY_PORT": str(relay.port),
            "FRONTDESK_INBOX_TIMER_POLL_SECONDS": "0.5",
            "FRONTDESK_INBOX_MAX_MAIL_BYTES": str(256 * 1024),
            "FRONTDESK_INBOX_ALLOW_PLAIN_IMAP": "true",
            "FRONTDESK_INBOX_OUTBOUND_ALLOW": "127.0.0.1",
            "FRONTDESK_INBOX_IMAP_POLL_SECONDS": "1",
        }  # fmt: skip
        async with running_stack(
            Stack, world, "services.inbox.app:create_app", feeds=("intake", "routing"), env=env
        ) as stack:
            port = int(stack.process.env["FRONTDESK_INBOX_SMTP_PORT"])
            client_id, address = await seed(stack)
            yield Inbox(stack, port, relay, client_id, address)


async def seed(stack: Stack) -> tuple[UUID, str]:
    """A client with office hours 8-17 whose mail is answered within four working hours."""
    signed_up = registered(at=FRIDAY_1650 - timedelta(days=30), office_hours=EIGHT_TO_FIVE)
    await stack.append([signed_up])
    joined = OperatorRegistered(
        occurred_at=signed_up.occurred_at, operator_id="op-anna", name="Anna", languages=("nl",)
    )
    await stack.stores["routing"].append("operator-op-anna", None, [joined])
    body = {"client_address": "info@bakker.nl", "answer_within_minutes": 240,
            "send_as": "on_behalf"}  # fmt: skip
    path = f"/clients/{signed_up.client_id}/mailbox"

    async def configured() -> bool:  # once the inbox has heard of the client from intake
        return (await stack.http.put(path, json=body)).status_code == 200

    await wait_until(configured, within=60, what="the inbox knows the client")
    box = expect(await stack.http.get(path), 200)
    return signed_up.client_id, box["forwarding_address"]


def mail(to: str, message_id: str = "<m1@example.nl>", body: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Piet Jansen <piet@example.nl>"
    message["To"] = to
    message["Subject"] = "Offerte badkamer"
    message["Message-ID"] = message_id
    message.set_content(
        body or "Beste meneer, kunt u mij een offerte sturen? Met vriendelijke groet"
    )
    return message


async def mails_to(inbox: Inbox, recipient: str, count: int) -> list[Received]:
    """What the relay took for a recipient, once it is `count` mails (the outbox sends after
    the request has been answered); a moment later, to see that no more follow."""

    async def arrived() -> bool:
        return len(inbox.relay.messages(to=recipient)) >= count

    await wait_until(arrived, within=30, what=f"{count} mails to {recipient} through the relay")
    await asyncio.sleep(1.5)  # longer than the outbox's poll: a second copy would be here
    return inbox.relay.messages(to=recipient)


async def test_a_forwarded_mail_is_one_conversation_due_monday_and_escalates(inbox: Inbox) -> None:
    await inbox.send(mail(inbox.address))
    await inbox.send(mail(inbox.address))  # delivered twice: one mail
    found = await get_when(
        inbox.http, "/conversations", lambda rows: len(rows) == 1,
        params={"client_id": str(inbox.client_id)}, what="the conversation",
    )  # fmt: skip
    [conversation] = found
    assert datetime.fromisoformat(conversation["due_at"]) == MONDAY_1150
    assert conversation["language"] == "nl"
    assert conversation["mails"] == 1

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await inbox.send(mail("nobody@in.frontdesk.example", "<m2@example.nl>"))
    with pytest.raises((aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError)):
        await inbox.send(mail(inbox.address, "<m3@example.nl>", body="x" * 300_000))

    moved = await inbox.http.post("/clock", json={"set_to": MONDAY_1150.isoformat()})
    expect(moved, 200)
    path = f"/conversations/{conversation['conversation_id']}"
    await get_when(inbox.http, path, lambda c: c["escalated"], what="the overdue one escalates")
    events = await topic_events(inbox.stack.world, "inbox", unique=True)
    assert len([e for e in events if isinstance(e, ConversationOpened)]) == 1
    assert len([e for e in events if isinstance(e, MailReceived)]) == 1
    assert len([e for e in events if isinstance(e, ConversationEscalated)]) == 1


async def check_answer_counted(inbox: Inbox) -> None:
    """The reply counts for the client, with the time since Friday's mail, once."""
    text = expect_text(await inbox.http.get("/metrics"))
    client = str(inbox.client_id)
    answered = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("frontdesk_inbox_answered_total{") and f'client_id="{client}"' in line
        and 'how="replied"' in line
    ]  # fmt: skip
    assert sum(answered) == 1, text
    kept = f'frontdesk_inbox_client_mails_total{{client_id="{client}",via="forward"}} 1.0'
    assert kept in text
    waited = next(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith('frontdesk_inbox_time_to_answer_seconds_sum{language="nl"}')
    )  # fmt: skip
    assert waited >= (MONDAY_1150 - FRIDAY_1650).total_seconds()


def expect_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.text


async def test_the_reply_reaches_the_sender_threaded_to_the_original(inbox: Inbox) -> None:
    [conversation] = expect(
        await inbox.http.get("/conversations", params={"client_id": str(inbox.client_id)}), 200
    )
    path = f"/conversations/{conversation['conversation_id']}/reply"
    text = "Beste Piet, de offerte volgt morgen."
    once = {"Idempotency-Key": f"reply-{conversation['conversation_id']}"}
    replied = expect(await inbox.http.post(path, json={"text": text}, headers=once), 200)
    assert replied["status"] == "replied"
    assert replied["outgoing"]["state"] == "queued"  # recorded; the outbox sends it next
    repeated = await inbox.http.post(path, json={"text": text}, headers=once)
    assert expect(repeated, 200) == replied  # a retry with the key queues nothing more
    assert repeated.headers["Idempotent-Replayed"] == "true"
    [sent] = await mails_to(inbox, "piet@example.nl", 1)
    assert sent.message_id == f"<{replied['outgoing']['message_id']}>"
    assert sent.message["In-Reply-To"] == "<m1@example.nl>"
    assert sent.message["References"] == "<m1@example.nl>"
    assert sent.subject == "Re: Offerte badkamer"
    assert "offerte volgt morgen" in sent.body()
    assert str(sent.message["Reply-To"]).endswith("<info@bakker.nl>")
    await check_answer_counted(inbox)

    answer = mail(inbox.address, "<m4@example.nl>", "Dank u wel!")
    answer["In-Reply-To"] = sent.message_id
    await inbox.send(answer)  # the caller's answer threads back into the conversation
    detail = await get_when(
        inbox.http, f"/conversations/{conversation['conversation_id']}",
        lambda c: c["mails"] == 2, what="the answer joins the conversation",
    )  # fmt: skip
    assert detail["status"] == "open"
    assert [m["direction"] for m in detail["thread"]] == ["in", "out", "in"]
    [out] = detail["outgoing_mails"]
    assert (out["kind"], out["state"]) == ("reply", "sent")
    assert sent.message_id == f"<{out['message_id']}>"


async def test_a_forward_brings_the_mail_itself_to_the_client_in_its_language(
    inbox: Inbox,
) -> None:
    conversation = expect(
        await inbox.http.get("/conversations", params={"client_id": str(inbox.client_id)}), 200
    )[0]
    path = f"/conversations/{conversation['conversation_id']}/forward"
    forwarded = expect(await inbox.http.post(path, json={}), 200)
    assert forwarded["status"] == "forwarded"
    [sent] = await mails_to(inbox, "info@bakker.nl", 1)
    assert sent.message_id == f"<{forwarded['outgoing']['message_id']}>"
    assert sent.subject == "Fwd: Offerte badkamer"
    assert "het secretariaat stuurt hem u door" in sent.body()
    [attached] = list(sent.message.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"


async def test_no_request_gets_a_server_error(inbox: Inbox) -> None:
    conversation = expect(
        await inbox.http.get("/conversations", params={"client_id": str(inbox.client_id)}), 200
    )[0]
    known = {"client_id": str(inbox.client_id), "conversation_id": conversation["conversation_id"]}
    spec = (await inbox.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) == 12
    for operation in operations:
        await asyncio.to_thread(
            assert_no_server_error, operation, inbox.stack.url, aim=aim_path_at(known), examples=20
        )


async def test_the_clients_own_mailbox_is_read_once_across_a_restart_and_a_dropped_server(
    inbox: Inbox, dovecot: LocalDovecot, folder: str
) -> None:
    before = "<imap-before@example.nl>"
    dovecot.deliver(bytes(mail("info@bakker.nl", before)), folder)  # there before linking
    link = {"host": "127.0.0.1", "port": dovecot.port, "tls": False, "username": USER,
            "password": PASSWORD, "folder": folder}  # fmt: skip
    linked = expect(
        await inbox.http.put(f"/clients/{inbox.client_id}/mailbox/imap", json=link), 200
    )
    assert PASSWORD not in str(linked)

    async def ids_kept() -> set[str]:
        events = await topic_events(inbox.stack.world, "inbox", unique=True)
        return {e.message_id for e in events if isinstance(e, MailReceived) and e.via == "imap"}

    async def fetched(message_id: str) -> bool:
        await inbox.http.post("/clock", json={"advance_seconds": 2})  # the reader's next turn
        return message_id in await ids_kept()

    dovecot.deliver(bytes(mail("info@bakker.nl", "<imap-1@example.nl>")), folder)
    await wait_until(lambda: fetched("imap-1@example.nl"), within=60, what="the new mail")

    await asyncio.to_thread(inbox.stack.process.stop)  # the inbox restarts
    await asyncio.to_thread(inbox.stack.process.start)
    dovecot.deliver(bytes(mail("info@bakker.nl", "<imap-2@example.nl>")), folder)
    await wait_until(lambda: fetched("imap-2@example.nl"), within=60, what="mail after a restart")

    await asyncio.to_thread(
        dovecot.stop
    )  # the server goes away and comes back: the reader picks up again
    await inbox.http.post("/clock", json={"advance_seconds": 2})
    await dovecot.start()
    dovecot.deliver(bytes(mail("info@bakker.nl", "<imap-3@example.nl>")), folder)
    await wait_until(lambda: fetched("imap-3@example.nl"), within=60, what="mail after a drop")

    events = await topic_events(inbox.stack.world, "inbox", unique=True)
    kept = [e.message_id for e in events if isinstance(e, MailReceived) and e.via == "imap"]
    assert sorted(kept) == ["imap-1@example.nl", "imap-2@example.nl", "imap-3@example.nl"]
