"""Notify end to end: events in through Kafka, mail out through a real SMTP server.

The crash test runs last in this module: it kills and restarts the shared notify process.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import httpx
import pytest

from libs.devstack.smtp import REFUSED_DOMAIN
from libs.events import EscalationDispatched, EscalationRequested, new_id
from libs.events.catalogue import dead_letter_topic
from libs.platform import kafka
from libs.platform.consumer import DeadLetters, MessageProcessor
from libs.platform.db import Connection, migrate
from libs.platform.replay import ResetProjection, rebuild_projection
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.notify.migrations import MIGRATIONS
from services.notify.notifier import bootstrap
from services.notify.reactions import subscriptions
from services.notify.settings import NotifySettings
from tests.notify.conftest import (
    SMS_TOKEN,
    NotifyStack,
    mails_to,
    noted_call,
    notifications,
    notify_events,
    register,
    until_noted,
)
from tests.notify.stand_in import REJECTED_NUMBER
from tests.support.pipeline import metric_value, wait_until

pytestmark = [pytest.mark.infra]


async def test_a_per_call_client_gets_one_mail_per_noted_call_in_its_language(
    stack: NotifyStack,
) -> None:
    client, inbox = await register(stack, mode="per_call", language="de")
    first = await noted_call(stack, client, stack.at(9, 20), "Bitte um Rückruf wegen Angebot")
    second = await noted_call(stack, client, stack.at(9, 40), "Frage zur <Rechnung>")
    mails = await mails_to(stack, inbox, 2)
    assert len(mails) == 2
    assert all(m.subject.startswith("Nachricht von Piet Jansen") for m in mails)
    texts = "".join(m.body() for m in mails)
    for field in ("Bitte um Rückruf wegen Angebot", "Frage zur <Rechnung>", "Jansen & Zonen",
                  "+31687654321", "Bitte zurückrufen", "Agenda checked", "Opening hours",
                  "09:20"):  # fmt: skip
        assert field in texts
    assert "Frage zur &lt;Rechnung&gt;" in "".join(m.body("html") for m in mails)
    sent = await notify_events(stack, client, "NotificationSent", 2)
    assert sorted(e.call_ids for e in sent) == sorted([(first,), (second,)])
    assert {e.message_id for e in sent} == {m.message_id for m in mails}
    rows = await notifications(stack, client)
    assert {(r["state"], r["kind"], r["channel"]) for r in rows} == {("sent", "per_call", "email")}
    labels = {"channel": "email", "kind": "per_call"}
    assert metric_value(stack.process.url, "frontdesk_notifications_sent_total", **labels) >= 2
    delays = metric_value(stack.process.url, "frontdesk_notification_delay_seconds_count", **labels)
    assert delays >= 2


async def test_a_refused_recipient_is_a_permanent_failure_on_record(stack: NotifyStack) -> None:
    client, _ = await register(
        stack, mode="per_call", language="nl", recipients=[f"nobody@{REFUSED_DOMAIN}"]
    )
    call = await noted_call(stack, client, stack.at(9, 25), "Terugbellen a.u.b.")
    [failed] = await notify_events(stack, client, "NotificationFailed", 1)
    assert failed.permanent
    assert "550" in failed.error
    assert failed.call_ids == (call,)
    [row] = await notifications(stack, client)
    assert (row["state"], row["permanent"], row["call_ids"]) == ("failed", True, [str(call)])
    assert "550" in row["error"]


async def test_escalations_go_out_by_sms_and_chat(stack: NotifyStack) -> None:
    client, _ = await register(stack, mode="per_call", language="en")
    call, escalation = new_id(), new_id()
    request = EscalationRequested(
        client_id=client, occurred_at=stack.at(9, 30), call_id=call, escalation_id=escalation,
        urgency_kind="leak", reason="Water in the server room",
    )  # fmt: skip
    await stack.stores["calls"].append(f"call-{call}", None, [request])
    chat_url = f"{stack.stand_in.url}/chat/{client.hex}"
    targets = [("sms", "+31611111111"), ("sms", REJECTED_NUMBER), ("chat", chat_url)]
    dispatches = [
        EscalationDispatched(
            client_id=client, occurred_at=stack.at(9, 31), call_id=call,
            escalation_id=escalation, attempt=attempt, contact_index=0, channel=channel,
            target=target, ack_due_at=stack.at(9, 41),
        )
        for attempt, (channel, target) in enumerate(targets, start=1)
    ]  # fmt: skip
    await stack.stores["routing"].append(f"escalation-{escalation}", None, dispatches)

    sent_events = await notify_events(stack, client, "NotificationSent", 2)  # sms and chat
    [sent] = [e for e in sent_events if e.channel == "sms"]
    [chat_sent] = [e for e in sent_events if e.channel == "chat"]
    assert (chat_sent.kind, chat_sent.recipients) == ("escalation", (chat_url,))
    [failed] = await notify_events(stack, client, "NotificationFailed", 1)
    assert (sent.channel, sent.kind, sent.recipients) == ("sms", "escalation", ("+31611111111",))
    assert (failed.recipients, failed.permanent) == ((REJECTED_NUMBER,), True)
    assert "400" in failed.error
    [sms] = [p for p in stack.stand_in.requests("/sms") if p.body["to"] == "+31611111111"]
    assert sms.headers["Authorization"] == f"Bearer {SMS_TOKEN}"
    assert "Water in the server room" in sms.body["text"]
    assert f"https://frontdesk.test/escalations/{escalation}/ack?attempt=1" in sms.body["text"]
    await _chat_posted(stack, chat_url, "Water in the server room")
    rows = await notifications(stack, client)
    assert sorted((r["channel"], r["state"]) for r in rows) == [
        ("chat", "sent"), ("sms", "failed"), ("sms", "sent"),
    ]  # fmt: skip


async def _chat_posted(stack: NotifyStack, url: str, text: str) -> None:
    path = url.removeprefix(stack.stand_in.url)

    async def posted() -> bool:
        return any(text in p.body.get("text", "") for p in stack.stand_in.requests(path))

    await wait_until(posted, within=30, what="the chat webhook to be called")


async def test_a_replay_rebuilds_the_projections_and_sends_nothing(stack: NotifyStack) -> None:
    client, inbox = await register(stack, mode="per_call", language="nl")
    call = await noted_call(stack, client, stack.at(9, 55), "Replay me")
    await mails_to(stack, inbox, 1)
    schema = stack.world.schema("notify_replay")
    store = EventStore(stack.pool, schema=schema, service="notify", prefix=stack.world.prefix)
    async with stack.pool.acquire() as conn:
        await migrate(conn, schema, [*PLUMBING_MIGRATIONS, *MIGRATIONS])
    settings = stack.world.settings("notify", "notify_replay")
    # the first: intake's, calls' and routing's (the others are the calendar's and the inbox's)
    subscription, *_ = subscriptions(settings, bootstrap(NotifySettings()))
    processor = MessageProcessor(
        subscription,
        store,
        DeadLetters(None, dead_letter_topic("notify", stack.world.prefix)),
        now=lambda: stack.at(18),
        replay=True,
    )
    consumer = kafka.plain_consumer(stack.world.infra.bootstrap, client_id="test-notify-replay")
    await consumer.start()
    try:
        report = await rebuild_projection(consumer, processor, _reset(schema))
    finally:
        await consumer.stop()
    assert report.handled > 0
    assert await stack.pool.fetchval(f"SELECT count(*) FROM {schema}.outgoing") == 0
    noted = await stack.pool.fetchval(
        f"SELECT messages FROM {schema}.calls WHERE call_id = $1", call
    )
    assert noted == 1
    assert len(stack.smtp.messages(inbox)) == 1


def _reset(schema: str) -> ResetProjection:
    async def reset(conn: Connection) -> None:
        await conn.execute(f"TRUNCATE {schema}.clients, {schema}.calls, {schema}.escalations")

    return reset


async def test_a_daily_digest_is_sent_once_even_when_notify_dies_mid_send(
    stack: NotifyStack,
) -> None:
    client, inbox = await register(stack, mode="daily_digest", language="fr")
    messages = ["Rappeler pour le devis", "Question sur la facture", "Livraison demain ?"]
    calls = [
        await noted_call(stack, client, stack.at(hour), text)
        for hour, text in zip((10, 12, 15), messages, strict=True)
    ]
    await until_noted(stack, client, 3)
    assert stack.smtp.messages(inbox) == []  # a digest client gets nothing per call

    # 1. Die right after the SMTP server accepted the digest, before notify records it.
    await restart(stack, crash_at="notify.after_smtp_send:1")
    with contextlib.suppress(httpx.TransportError):  # the process may die before it answers
        await stack.http.post("/clock", json={"set_to": stack.at(17, 16).isoformat()})
    assert await asyncio.to_thread(stack.process.wait_exit, 60) == -9
    [accepted] = stack.smtp.messages(inbox)
    assert await outgoing_state(stack, client) == "sending"  # sent, not recorded: the window

    # 2. Once the lease ends the next process takes the digest over, and dies before sending.
    await restart(stack, crash_at="notify.before_smtp_send:1")
    assert await asyncio.to_thread(stack.process.wait_exit, 60) == -9
    assert len(stack.smtp.messages(inbox)) == 1  # a crash before the send adds no copy

    # 3. The next process sends it and records it once.
    await restart(stack)
    [sent] = await notify_events(stack, client, "NotificationSent", 1)
    mails = await mails_to(stack, inbox, 2)
    # The server's 250 in step 1 came before the crash and nobody can ask the server about
    # it, so the message went out again: same Message-ID and content, recorded once.
    assert len(mails) == 2
    assert {m.message_id for m in mails} == {sent.message_id} == {accepted.message_id}
    assert sent.kind == "daily_digest"
    assert set(sent.call_ids) == set(calls)
    assert mails[0].subject.startswith("Vos messages du")
    assert all(text in mails[1].body() for text in messages)
    await _digest_run_is_idempotent(stack, client, sent.notification_id)
    assert len(stack.smtp.messages(inbox)) == 2
    assert len(await notify_events(stack, client, "NotificationSent", 1)) == 1


async def restart(stack: NotifyStack, crash_at: str | None = None) -> None:
    """Stop notify if it runs, and start it again (set to die at a crash point)."""
    await asyncio.to_thread(stack.process.stop)
    if crash_at is None:
        await asyncio.to_thread(stack.process.start)
        return
    # The crash may come before the process answers at all (a lease that ran out already).
    with contextlib.suppress(RuntimeError):
        await asyncio.to_thread(stack.process.start, extra_env={"FRONTDESK_CRASH_AT": crash_at})


async def outgoing_state(stack: NotifyStack, client: UUID) -> str:
    """The state of the client's one queued notification."""
    state: str = await stack.pool.fetchval(
        f"SELECT state FROM {stack.schema}.outgoing WHERE client_id = $1", client
    )
    return state


async def _digest_run_is_idempotent(stack: NotifyStack, client: UUID, notification: UUID) -> None:
    response = await stack.http.post("/digests/run", json={"date": stack.day.isoformat()})
    assert response.status_code == 200, response.text
    [digest] = [d for d in response.json()["digests"] if d["client_id"] == str(client)]
    assert (digest["notification_id"], digest["created"], digest["calls"]) == (
        str(notification), False, 3,
    )  # fmt: skip
    [row] = await notifications(stack, client)
    assert (row["state"], row["attempts"], row["message_id"]) == (
        "sent", 3, f"<{notification}@frontdesk.local>",
    )  # fmt: skip
