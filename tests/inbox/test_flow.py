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
            "FRONTDESK_INBOX_MAX_ATTACHMENT_BYTES": str(64 * 1024),
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
    detail = expect(await inbox.http.get(f"/conversations/{conversation['conversation_id']}"), 200)
    known = {"client_id": str(inbox.client_id), "conversation_id": conversation["conversation_id"],
             "mail_id": detail["thread"][0]["mail_id"]}  # fmt: skip
    spec = (await inbox.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(headers=STAFF)
    operations = operations_of(schema.exclude(tag="operations"))
    assert len(operations) == 14
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


def hostile(to: str) -> bytes:
    """A mail whose name and subject decode to line breaks (a header injection), with NUL and
    other control characters in its subject and text."""
    return (
        b"From: =?utf-8?q?Piet=0D=0ABcc:_boef@evil.example?= <piet@example.nl>\r\n"
        + f"To: {to}\r\n".encode()
        + b"Subject: =?utf-8?q?Offerte=0D=0ABcc:_boef@evil.example?= \x00\x07deel 2\r\n"
        b"Message-ID: <hostile@example.nl>\r\n\r\nGraag\x00 een\x1b offerte.\r\n"
    )


def broken_mime(to: str) -> bytes:
    """A multipart mail that never says its boundary."""
    return (
        b"From: piet@example.nl\r\n" + f"To: {to}\r\n".encode()
        + b"Subject: Kapot\r\nMessage-ID: <broken@example.nl>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nDe tekst van een kapotte mail.\r\n"
    )  # fmt: skip


def scripted(to: str) -> EmailMessage:
    """HTML with a script, an event handler and a javascript: link; a small and a big file."""
    message = mail(to, "<scripted@example.nl>", "Zie de bijlagen.")
    message.add_alternative(
        '<p onclick="steal()">Zie<script>alert(1)</script> de '
        '<a href="javascript:alert(2)">bijlagen</a>.</p>', subtype="html",
    )  # fmt: skip
    message.add_attachment(b"small photo", maintype="image", subtype="png", filename="klein.png")
    big = b"x" * (100 * 1024)  # over the 64 KB kept per attachment, the mail under its limit
    message.add_attachment(big, maintype="application", subtype="pdf", filename="groot.pdf")
    return message


async def mail_ids(inbox: Inbox) -> dict[str, str]:
    """Message-ID -> mail id of every mail in of the client."""
    rows = expect(
        await inbox.http.get(
            "/conversations", params={"client_id": str(inbox.client_id), "limit": 500}
        ),
        200,
    )
    found = {}
    for row in rows:
        detail = expect(await inbox.http.get(f"/conversations/{row['conversation_id']}"), 200)
        found.update({m["message_id"]: m["mail_id"] for m in detail["thread"]})
    return found


async def test_bad_mail_is_refused_or_neutralised_and_the_good_mail_around_it_kept(
    inbox: Inbox,
) -> None:
    to = inbox.address
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbox.smtp_port, timeout=10)
    async with client:  # one session: good, hostile, broken, scripted
        await client.send_message(mail(to, "<good-before@example.nl>"))
        await client.sendmail("piet@example.nl", [to], hostile(to))
        await client.sendmail("piet@example.nl", [to], broken_mime(to))
        await client.send_message(scripted(to))
    huge = mail(to, "<huge@example.nl>")
    huge.add_attachment(b"x" * (30 * 1024 * 1024), maintype="video", subtype="mp4",
                        filename="film.mp4")  # fmt: skip
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await inbox.send(huge)
    assert refused.value.code == 552
    assert "size" in refused.value.message.lower()
    await inbox.send(mail(to, "<good-after@example.nl>"))

    async def all_kept() -> bool:
        wanted = {"good-before", "hostile", "broken", "scripted", "good-after"}
        return {f"{name}@example.nl" for name in wanted} <= set(await mail_ids(inbox))

    await wait_until(all_kept, within=30, what="the good and the neutralised mails kept")
    ids = await mail_ids(inbox)
    assert "huge@example.nl" not in ids

    neutral = expect(await inbox.http.get(f"/mails/{ids['hostile@example.nl']}"), 200)
    assert neutral["subject"] == "Offerte Bcc: boef@evil.example deel 2"
    assert neutral["sender_name"] == "Piet Bcc: boef@evil.example"
    assert neutral["sender"] == "piet@example.nl"
    assert neutral["text"].startswith("Graag een offerte.")
    path = f"/conversations/{neutral['conversation_id']}/reply"
    expect(await inbox.http.post(path, json={"text": "Wij sturen de offerte."}), 200)
    *_, answer = await mails_to(inbox, "piet@example.nl", 2)  # after the earlier reply
    assert answer.message["Bcc"] is None
    assert answer.rcpt_to == ("piet@example.nl",)
    assert "\n" not in str(answer.message["Subject"])

    broken = expect(await inbox.http.get(f"/mails/{ids['broken@example.nl']}"), 200)
    assert "De tekst van een kapotte mail." in broken["text"]

    scripted_mail = expect(await inbox.http.get(f"/mails/{ids['scripted@example.nl']}"), 200)
    for unsafe in ("<script", "onclick", "javascript:"):
        assert unsafe not in scripted_mail["html"]
    assert 'href="javascript' not in scripted_mail["html"]
    assert [a["filename"] for a in scripted_mail["attachments"]] == ["klein.png"]
    assert [(a["filename"], a["size"]) for a in scripted_mail["left_out"]] == [
        ("groot.pdf", 100 * 1024)
    ]
    [photo] = scripted_mail["attachments"]
    download = await inbox.http.get(
        f"/mails/{scripted_mail['mail_id']}/attachments/{photo['sha256']}"
    )
    assert download.content == b"small photo"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    events = await topic_events(inbox.stack.world, "inbox", unique=True)
    [received] = [
        e for e in events if isinstance(e, MailReceived) and e.message_id == "scripted@example.nl"
    ]
    assert [(o.filename, o.reason) for o in received.left_out] == [
        ("groot.pdf", "larger than the 64 KB kept per attachment")
    ]
