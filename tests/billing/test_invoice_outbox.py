"""Billing's invoice mail in-process: recorded with the invoice, sent by the outbox, resent alike.

Billing runs on a rolled-back transaction; the mail goes to a real SMTP server in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import httpx
import pytest

from libs.devstack.smtp import SmtpServer, smtp_server
from libs.events import Event, new_id
from libs.events.billing import InvoiceSent, PaymentReminderSent
from libs.platform.auth import Principal
from libs.platform.clock import FixedClock
from services.billing import commands, mailing
from services.billing.mailing import stream_of
from services.billing.reactions import input_topics
from services.billing.settings import BillingSettings
from services.billing.workers import reminders, sender
from tests.billing.history import STAFF, at, call, registered, reported
from tests.billing.inproc import PREFIX, Billing
from tests.support.processes import free_port

ISSUED_AT = at("2027-01-04T08:00:00")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server in this process."""
    with smtp_server() as server:
        yield server


def _settings(smtp: SmtpServer, **extra: object) -> BillingSettings:
    return BillingSettings.model_validate(
        {"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_timeout_seconds": 2, **extra}
    )


async def _invoiced(billing: Billing, config: BillingSettings) -> UUID:
    client = new_id()
    calls = [call(client, "2026-12-08T10:00:00"), call(client, "2026-12-09T10:00:00")]
    history: list[Event] = [
        registered(client, "2026-12-07T08:00:00", language="fr"), *calls,
        reported(client, calls, "2026-12-09T16:15:00"),
    ]  # fmt: skip
    await billing.consume(*history)
    billing.now = ISSUED_AT
    [result] = await commands.run_invoices(
        billing.store, "2026-12", client, ISSUED_AT, input_topics(PREFIX), STAFF, config
    )
    assert result.invoice_id is not None
    return result.invoice_id


async def test_an_issued_invoice_is_recorded_as_sent_and_queued_in_one_go(
    billing: Billing, smtp: SmtpServer
) -> None:
    config = _settings(smtp)
    invoice_id = await _invoiced(billing, config)
    [sent] = [e.event for e in await billing.store.load(stream_of(invoice_id))]
    assert isinstance(sent, InvoiceSent)
    assert (sent.document_id, sent.language) == (invoice_id, "fr")
    queued = await billing.conn.fetch(f"SELECT * FROM {billing.store.schema}.outgoing")
    assert [(r["kind"], r["message_id"], r["state"]) for r in queued] == [
        ("invoice", sent.message_id, "queued")
    ]
    assert smtp.messages() == [], "nothing is sent before the outbox worker runs"
    assert await sender.send_due(billing.store, config) == 1
    [received] = smtp.messages()
    assert received.message_id == sent.message_id
    assert received.subject.startswith("Facture ")
    assert await sender.send_due(billing.store, config) == 0, "a sent mail is never sent again"


async def test_mail_off_issues_the_invoice_without_mail(billing: Billing, smtp: SmtpServer) -> None:
    invoice_id = await _invoiced(billing, _settings(smtp, mail_enabled=False))
    assert await billing.store.load(stream_of(invoice_id)) == []
    assert await billing.conn.fetchval(f"SELECT count(*) FROM {billing.store.schema}.outgoing") == 0


async def test_a_resend_after_a_crash_sends_the_same_bytes_with_the_same_message_id(
    billing: Billing, smtp: SmtpServer
) -> None:
    config = _settings(smtp)
    await _invoiced(billing, config)
    schema = billing.store.schema
    [first] = await sender.claim(billing.conn, schema, limit=10, lease_seconds=60)
    await mailing.relay(first.raw, first.mail_from, first.rcpt_to, config)
    # the process dies here: the server has the mail, `sent` was never recorded
    await billing.conn.execute(
        f"UPDATE {schema}.outgoing SET lease_until = now() - interval '1 second'"
    )
    [again] = await sender.claim(billing.conn, schema, limit=10, lease_seconds=60)
    assert again.resumed
    assert again.attempts == 2
    assert again.raw == first.raw
    await sender.deliver(billing.store, config, again)
    one, two = smtp.messages()
    assert one.message_id == two.message_id == first.message_id
    assert one.message.as_bytes() == two.message.as_bytes()
    state = await billing.conn.fetchval(f"SELECT state FROM {schema}.outgoing")
    assert state == "sent"


async def test_an_unreachable_server_puts_the_mail_back_with_a_growing_pause(
    billing: Billing, smtp: SmtpServer
) -> None:
    await _invoiced(billing, _settings(smtp))
    config = _settings(smtp, smtp_port=free_port())  # nothing listens there
    assert await sender.send_due(billing.store, config) == 1
    row = await billing.conn.fetchrow(f"SELECT * FROM {billing.store.schema}.outgoing")
    assert row is not None
    assert (row["state"], row["attempts"]) == ("queued", 1)
    assert "did not take the mail" in row["last_error"]
    assert sender.pause_after(1, config) < sender.pause_after(2, config)
    assert sender.pause_after(40, config) == config.outbox_retry_max_seconds


async def test_the_timer_reminds_an_overdue_invoice_once_and_payment_stops_it(
    billing: Billing, smtp: SmtpServer
) -> None:
    config = _settings(smtp)
    invoice_id = await _invoiced(billing, config)
    clock = FixedClock(ISSUED_AT + timedelta(days=14 + 6))
    assert await reminders.remind_due(billing.store, config, clock) == 0
    clock.set(ISSUED_AT + timedelta(days=14 + 7))
    assert await reminders.remind_due(billing.store, config, clock) == 1
    assert await reminders.remind_due(billing.store, config, clock) == 0
    _, reminder = [e.event for e in await billing.store.load(stream_of(invoice_id))]
    assert isinstance(reminder, PaymentReminderSent)
    assert reminder.reminder_number == 1
    row = await billing.document(invoice_id)
    await commands.pay(billing.store, invoice_id, row["total_cents"], None, "", clock.now(), STAFF)
    clock.set(ISSUED_AT + timedelta(days=14 + 21))
    assert await reminders.remind_due(billing.store, config, clock) == 0


async def test_the_invoice_state_and_ubl_file_over_http(
    billing: Billing, http: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    invoice_id = await _invoiced(billing, _settings(smtp))
    invoice = (await http.get(f"/invoices/{invoice_id}")).json()
    assert (invoice["state"], invoice["due_date"], invoice["reminders"]) == (
        "sent",
        "2027-01-18",
        0,
    )
    xml = await http.get(f"/invoices/{invoice_id}.xml")
    assert xml.status_code == 200
    assert xml.headers["content-type"] == "application/xml"
    assert b"urn:fdc:peppol.eu:2017:poacc:billing:01:1.0" in xml.content
    billing.caller = Principal(subject="c", name="other", role="client", client_id=new_id(),
                               via="token")  # fmt: skip
    assert (await http.get(f"/invoices/{invoice_id}.xml")).status_code == 404
