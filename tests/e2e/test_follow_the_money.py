"""End to end over HTTP, following the money: from a client's set-up to the line on its invoice.

All five services run as real processes on one simulated clock (a database of this test's
own). Intake sets a client up for a mail per call; a call to its number is routed, answered
and noted at calls; notify mails the note to a real SMTP server; billing counts the call
billable once that mail went out, and the month's invoice, run once the clock is in the next
month, carries the call on its line next to the setup fee. The services meet only on Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.devstack.smtp import Received, SmtpServer, smtp_server
from tests.support.clock import amsterdam, first_of_next_month, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.pipeline import wait_until
from tests.support.processes import ServiceProcess
from tests.support.stack import World, expect, get_when

pytestmark = [pytest.mark.infra]

SERVICES = ("intake", "calls", "routing", "notify", "billing")
RECIPIENT = "jan@bakker.example"
NUMBER = "+31851234567"
OPERATOR = "op-anna"
MESSAGE_ID_DOMAIN = "money.test"
RATE_CENTS, SETUP_FEE_CENTS, VAT_PERCENT = 200, 4500, 21
NOTE = {
    "caller_name": "Piet Jansen",
    "caller_company": "Jansen & Zonen",
    "caller_number": "+31612345678",
    "message": "Wants a quote for a heat pump",
    "follow_up": "call_back",
}
ROUTING_ENV = {
    "FRONTDESK_ROUTING_ACK_SECRET": "test-money-ack-secret",
    "FRONTDESK_ROUTING_PUBLIC_BASE_URL": "https://routing.frontdesk.example",
}


@dataclass
class Stack:
    """The five service processes' HTTP clients and the SMTP server notify delivers to."""

    intake: httpx.AsyncClient
    calls: httpx.AsyncClient
    routing: httpx.AsyncClient
    notify: httpx.AsyncClient
    billing: httpx.AsyncClient
    smtp: SmtpServer


def notify_env(smtp: SmtpServer) -> dict[str, str]:
    """Notify's settings: the test's SMTP server, quick polls and a recognisable Message-ID."""
    return {
        "FRONTDESK_NOTIFY_SMTP_HOST": smtp.host,
        "FRONTDESK_NOTIFY_SMTP_PORT": str(smtp.port),
        "FRONTDESK_NOTIFY_SMTP_TIMEOUT_SECONDS": "5",
        "FRONTDESK_NOTIFY_MESSAGE_ID_DOMAIN": MESSAGE_ID_DOMAIN,
        "FRONTDESK_NOTIFY_SENDER_POLL_SECONDS": "0.2",
        "FRONTDESK_NOTIFY_SCHEDULE_SECONDS": "1",
    }


def service_process(world: World, service: str, clock_dsn: str, smtp: SmtpServer) -> ServiceProcess:
    """One service as a process of the world, on the test's simulated clock."""
    env = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
    env |= notify_env(smtp) if service == "notify" else {}
    env |= ROUTING_ENV if service == "routing" else {}
    return world.process(f"services.{service}.app:create_app", service, service, **env)


@asynccontextmanager
async def running_stack(world: World, start: datetime) -> AsyncIterator[Stack]:
    """The SMTP server and all five services started (in parallel), with a client for each."""
    clock_dsn = await private_clock(world.infra.dsn, world.schema("clock"), start)
    with smtp_server() as smtp:
        procs = {s: service_process(world, s, clock_dsn, smtp) for s in SERVICES}
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs.values()))
        async with AsyncExitStack() as stack:
            http = {
                s: await stack.enter_async_context(
                    httpx.AsyncClient(base_url=p.url, timeout=30, headers=STAFF)
                )
                for s, p in procs.items()
            }
            yield Stack(**http, smtp=smtp)


async def test_a_noted_call_is_mailed_billed_and_invoiced(world: World) -> None:
    """A client set up at intake gets its noted call by mail and then on its invoice."""
    day = working_day(datetime.now(UTC).date())
    period = f"{day:%Y-%m}"
    async with running_stack(world, amsterdam(day, 9)) as stack:
        await put_operator_on_duty(stack.routing)
        client_id = await set_up_client(stack.intake)
        await wait_for_active_line(stack.calls)
        call_id = await take_call(stack.calls, client_id)
        await check_routed_to_operator(stack.routing, call_id)
        await check_mail(stack, client_id, call_id)
        await check_usage(stack.billing, client_id, period, call_id)
        await move_clock_to_next_month(stack.billing, day)
        await check_invoice(stack.billing, client_id, period, call_id)


async def put_operator_on_duty(routing: httpx.AsyncClient) -> None:
    """A Dutch-speaking operator on routing's roster, available for calls."""
    operator = {"name": "Anna", "languages": ["nl"]}
    expect(await routing.put(f"/operators/{OPERATOR}", json=operator), 200)
    presence = {"presence": "available"}
    expect(await routing.put(f"/operators/{OPERATOR}/presence", json=presence), 200)


async def set_up_client(intake: httpx.AsyncClient) -> UUID:
    """Register a client wanting a mail per call, give it a number and a book, activate it."""
    registration = {
        "name": "Installatiebedrijf Bakker B.V.",
        "contact_email": RECIPIENT,
        "language": "nl",
        "notification": {"mode": "per_call", "recipients": [RECIPIENT]},
    }
    created = expect(await intake.post("/clients", json=registration), 201)
    client_id = UUID(created["client_id"])
    clients = f"/clients/{client_id}"
    expect(await intake.post(f"{clients}/numbers", json={"number": NUMBER}), 201)
    book = {"greeting": "Installatiebedrijf Bakker, goedemorgen"}
    assert expect(await intake.put(f"{clients}/book", json=book), 200) == {"book_version": 1}
    activated = expect(await intake.post(f"{clients}/activate"), 200)
    assert (activated["status"], activated["setup_fee_cents"]) == ("active", SETUP_FEE_CENTS)
    return client_id


async def wait_for_active_line(calls: httpx.AsyncClient) -> None:
    """Wait until calls has learned, through Kafka, the active client's number and book."""
    await get_when(
        calls, f"/lines/{NUMBER}",
        lambda line: (line["client_status"], line["book_version"]) == ("active", 1),
        within=60, what=f"calls to learn the active line {NUMBER}",
    )  # fmt: skip


async def take_call(calls: httpx.AsyncClient, client_id: UUID) -> UUID:
    """A call to the number pops the client's screen; it is answered, noted and ended."""
    body = {"dialled_number": NUMBER, "caller_number": NOTE["caller_number"]}
    pop = expect(await calls.post("/calls", json=body), 201)
    assert (pop["client"]["id"], pop["office_open"]) == (str(client_id), True)
    call = f"/calls/{pop['call_id']}"
    answer = {"language": "nl"}
    expect(await calls.post(f"{call}/answer", json=answer), 200)
    expect(await calls.post(f"{call}/notes", json=NOTE), 201)
    ended = expect(await calls.post(f"{call}/end"), 200)
    assert (ended["stage"], ended["non_billable"]) == ("answered", None)
    return UUID(pop["call_id"])


async def check_routed_to_operator(routing: httpx.AsyncClient, call_id: UUID) -> None:
    """Routing, told of the call through Kafka, sent it to the operator on duty."""
    found = await get_when(
        routing, f"/calls/{call_id}/routing", lambda body: bool(body.get("route")),
        within=60, what=f"routing to route call {call_id}",
    )  # fmt: skip
    route = found["route"]
    assert (route["destination"], route["operator_id"]) == ("operator", OPERATOR)


async def check_mail(stack: Stack, client_id: UUID, call_id: UUID) -> None:
    """The welcome mail names the number and the codes to forward it; one mail names the
    caller, under the Message-ID notify recorded as sent."""
    welcome, notification = await sent_notifications(stack.notify, client_id)
    assert (notification["kind"], notification["channel"]) == ("per_call", "email")
    assert notification["call_ids"] == [str(call_id)]
    assert notification["recipients"] == [RECIPIENT]
    mails = {m.message_id: m for m in stack.smtp.messages(RECIPIENT)}
    assert len(mails) == 2
    mail = mails[notification["message_id"]]
    assert mail.rcpt_to == (RECIPIENT,)
    assert mail.message_id == f"<{notification['notification_id']}@{MESSAGE_ID_DOMAIN}>"
    check_mail_names_the_caller(mail)
    welcomed = mails[welcome["message_id"]]
    assert welcomed.subject == "Welkom bij Frontdesk: uw doorschakelnummer +31 85 123 4567"
    for code in ("*21*0851234567#", "##21#", "*61*0851234567#"):
        assert code in welcomed.body()


def check_mail_names_the_caller(mail: Received) -> None:
    """The subject names the caller; the body carries the caller, company and message."""
    assert NOTE["caller_name"] in mail.subject
    body = mail.body()
    for field in ("caller_name", "caller_company", "caller_number", "message"):
        assert NOTE[field] in body, f"{field} missing from the mail:\n{body}"


async def sent_notifications(
    notify: httpx.AsyncClient, client_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client's welcome and its call's mail, once notify has recorded both as sent."""
    found: list[dict[str, Any]] = []

    async def sent() -> bool:
        found[:] = expect(await notify.get(f"/clients/{client_id}/notifications"), 200)
        return sorted((n["kind"], n["state"]) for n in found) == [
            ("per_call", "sent"), ("welcome", "sent"),
        ]  # fmt: skip

    await wait_until(sent, within=60, what=f"notify to send the mails of client {client_id}")
    by_kind = {n["kind"]: n for n in found}
    return by_kind["welcome"], by_kind["per_call"]


async def check_usage(
    billing: httpx.AsyncClient, client_id: UUID, period: str, call_id: UUID
) -> None:
    """Billing, told of the sent mail through Kafka, counts the call billable at EUR 2.00."""
    usage = await get_when(
        billing, f"/clients/{client_id}/usage",
        lambda body: [c["status"] for c in body["calls"]] == ["billable"],
        within=60, what=f"billing to count call {call_id} billable", params={"period": period},
    )  # fmt: skip
    [decision] = usage["calls"]
    assert decision["call_id"] == str(call_id)
    assert (decision["rate_cents"], decision["amount_cents"]) == (RATE_CENTS, RATE_CENTS)


async def move_clock_to_next_month(billing: httpx.AsyncClient, day: date) -> None:
    """Set the shared clock to the first working morning hour of the next month."""
    instant = amsterdam(first_of_next_month(day), 9)
    moved = expect(await billing.post("/clock", json={"set_to": instant.isoformat()}), 200)
    assert datetime.fromisoformat(moved["now"]) == instant


async def check_invoice(
    billing: httpx.AsyncClient, client_id: UUID, period: str, call_id: UUID
) -> None:
    """The month's invoice: the setup fee and one call line with exactly that call; VAT on top."""
    invoice_id = await run_invoices(billing, client_id, period)
    listed = expect(await billing.get("/invoices", params={"client_id": str(client_id)}), 200)
    assert [(i["invoice_id"], i["period"], i["purpose"]) for i in listed] == [
        (str(invoice_id), period, "monthly")
    ]
    invoice = expect(await billing.get(f"/invoices/{invoice_id}"), 200)
    lines = {line["kind"]: line for line in invoice["lines"]}
    assert sorted(lines) == ["calls", "setup_fee"]
    assert (lines["setup_fee"]["amount_cents"], lines["setup_fee"]["call_ids"]) == (
        SETUP_FEE_CENTS,
        [],
    )
    calls = lines["calls"]
    assert (calls["quantity"], calls["unit_price_cents"], calls["amount_cents"]) == (
        1,
        RATE_CENTS,
        RATE_CENTS,
    )
    assert calls["call_ids"] == [str(call_id)]
    check_totals(invoice)


def check_totals(invoice: dict[str, Any]) -> None:
    """Subtotal is the two lines; VAT 21% rounded half up; nothing paid yet."""
    subtotal = SETUP_FEE_CENTS + RATE_CENTS
    vat = (subtotal * VAT_PERCENT + 50) // 100
    assert (invoice["subtotal_cents"], invoice["vat_rate_percent"]) == (subtotal, VAT_PERCENT)
    assert (invoice["vat_cents"], invoice["total_cents"]) == (vat, subtotal + vat)
    assert (invoice["status"], invoice["outstanding_cents"]) == ("open", subtotal + vat)


async def run_invoices(billing: httpx.AsyncClient, client_id: UUID, period: str) -> UUID:
    """Run the month's invoices twice: the first issues the invoice, the second nothing new."""
    body = {"period": period, "client_id": str(client_id)}
    [first] = expect(await billing.post("/invoices/run", json=body), 200)["results"]
    assert first["outcome"] == "issued", first
    [again] = expect(await billing.post("/invoices/run", json=body), 200)["results"]
    assert (again["outcome"], again["invoice_id"]) == ("already_issued", first["invoice_id"])
    return UUID(first["invoice_id"])
