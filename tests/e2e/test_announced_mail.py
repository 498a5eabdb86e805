"""End to end, the bureau's rule: "some callers say they will send an e-mail; when we together
notice that this indeed happens, the call is not charged."

Intake, calls, inbox and billing run as real processes on one simulated clock. A call is noted
with the follow-up "the caller will e-mail"; the caller's mail, signed with the number they
called from, reaches the client's forwarding address over real SMTP; the inbox links it to
the call and calls shows the call proposed as not billable; the client itself confirms (a
client of another tenant cannot); billing leaves the call out and names the mail in the
usage explanation. The services meet only on Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx
import pytest

from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.credentials import STAFF
from tests.support.stack import World, expect, get_when

pytestmark = [pytest.mark.infra]

SERVICES = ("intake", "calls", "inbox", "billing")
NUMBER = "+31851234599"
CALLER_NUMBER = "+31612345678"
SUBJECT = "Tekening badkamer"
SENDER = "p.jansen@jansen-zonen.example"


@dataclass
class Stack:
    """The processes' HTTP clients (as staff) and the inbox's SMTP port."""

    http: dict[str, httpx.AsyncClient]
    smtp_port: int
    urls: dict[str, str]


@asynccontextmanager
async def running_stack(world: World, start: datetime) -> AsyncIterator[Stack]:
    """The four services started in parallel on the test's clock."""
    clock_dsn = await private_clock(world.infra.dsn, world.schema("clock"), start)
    env = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
    procs = {
        s: world.process(f"services.{s}.app:create_app", s, s, **env) for s in SERVICES
    }  # fmt: skip
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs.values()))
    async with AsyncExitStack() as stack:
        http = {
            s: await stack.enter_async_context(
                httpx.AsyncClient(base_url=p.url, timeout=30, headers=STAFF)
            )
            for s, p in procs.items()
        }
        port = int(procs["inbox"].env["FRONTDESK_INBOX_SMTP_PORT"])
        yield Stack(http, port, {s: p.url for s, p in procs.items()})


async def test_a_caller_who_emails_as_announced_is_not_billed(world: World) -> None:
    """Noted "will e-mail", the mail arrives, the client confirms, billing leaves it out."""
    day = working_day(datetime.now(UTC).date())
    async with running_stack(world, amsterdam(day, 10)) as stack:
        client_id, other_id = await set_up_clients(stack.http["intake"])
        address = await configure_mailbox(stack.http["inbox"], client_id)
        call_id = await take_call(stack.http["calls"], client_id)
        await send_mail(stack.smtp_port, address)
        proposal = await check_proposed(stack.http["calls"], client_id, call_id)
        client_key, other_key = await client_keys(stack.http["intake"], client_id, other_id)
        await check_others_cannot_confirm(stack, other_key, call_id)
        await confirm_as_client(stack, client_key, call_id, proposal)
        await check_usage(stack.http["billing"], client_id, f"{day:%Y-%m}", call_id)


async def set_up_clients(intake: httpx.AsyncClient) -> tuple[UUID, UUID]:
    """The client with an active line, and a second client (another tenant)."""
    ids = []
    for name, number in (("Bakker Installatie", NUMBER), ("Other Co", "+31851234598")):
        body = {"name": name, "contact_email": "info@bakker.example", "language": "nl"}
        client_id = UUID(expect(await intake.post("/clients", json=body), 201)["client_id"])
        path = f"/clients/{client_id}"
        expect(await intake.post(f"{path}/numbers", json={"number": number}), 201)
        expect(await intake.put(f"{path}/book", json={"greeting": f"{name}, goedemorgen"}), 200)
        expect(await intake.post(f"{path}/activate"), 200)
        ids.append(client_id)
    return ids[0], ids[1]


async def configure_mailbox(inbox: httpx.AsyncClient, client_id: UUID) -> str:
    """The client's mail is handled by the bureau; its forwarding address."""
    body = {"client_address": "info@bakker.example", "answer_within_minutes": 240,
            "send_as": "on_behalf"}  # fmt: skip
    path = f"/clients/{client_id}/mailbox"

    for _ in range(600):  # the inbox hears of the client from intake over Kafka
        response = await inbox.put(path, json=body)
        if response.status_code == 200:
            return str(response.json()["forwarding_address"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"the inbox never learned client {client_id}: {response.text}")


async def take_call(calls: httpx.AsyncClient, client_id: UUID) -> UUID:
    """A call answered and noted: the caller will send the drawing by e-mail."""
    await get_when(
        calls, f"/lines/{NUMBER}", lambda line: line["client_status"] == "active",
        within=60, what=f"calls to learn the line {NUMBER}",
    )  # fmt: skip
    pop = expect(
        await calls.post("/calls", json={"dialled_number": NUMBER, "caller_number": CALLER_NUMBER}),
        201,
    )
    assert pop["client"]["id"] == str(client_id)
    call = f"/calls/{pop['call_id']}"
    expect(await calls.post(f"{call}/answer", json={"language": "nl"}), 200)
    note = {
        "caller_name": "Piet Jansen", "caller_number": CALLER_NUMBER,
        "message": "Wil een offerte voor een nieuwe badkamer",
        "follow_up": "caller_will_email", "follow_up_detail": "stuurt vandaag de tekening",
    }  # fmt: skip
    expect(await calls.post(f"{call}/notes", json=note), 201)
    expect(await calls.post(f"{call}/end"), 200)
    return UUID(pop["call_id"])


async def send_mail(port: int, address: str) -> None:
    """The caller's mail from an address nobody noted, signed with their mobile number."""
    message = EmailMessage()
    message["From"] = f"Piet Jansen <{SENDER}>"
    message["To"] = address
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<tekening-1@jansen-zonen.example>"
    message.set_content(
        "Goedemiddag,\n\nZoals beloofd de tekening van de badkamer.\n\n"
        "Met vriendelijke groet,\nPiet Jansen\nJansen & Zonen\nT 06-12345678\n"
    )
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10)


async def check_proposed(calls: httpx.AsyncClient, client_id: UUID, call_id: UUID) -> Any:
    """Calls, told by the inbox, shows the call proposed as not billable, found by number."""
    [proposal] = await get_when(
        calls, "/announced-mails", lambda found: len(found) == 1,
        within=60, what="the announced mail to be found", params={"client_id": str(client_id)},
    )  # fmt: skip
    assert proposal["call_id"] == str(call_id)
    assert (proposal["status"], proposal["matched_by"]) == ("proposed", "number")
    assert (proposal["sender"], proposal["subject"]) == (SENDER, SUBJECT)
    assert expect(await calls.get(f"/calls/{call_id}/announced-mail"), 200) == proposal
    return proposal


async def client_keys(intake: httpx.AsyncClient, client_id: UUID, other_id: UUID) -> list[str]:
    """An API key for a user of each client."""
    keys = []
    for owner in (client_id, other_id):
        body = {"client_id": str(owner), "role": "client", "name": "portal"}
        keys.append(expect(await intake.post("/api-keys", json=body), 201)["key"])
    return keys


async def check_others_cannot_confirm(stack: Stack, other_key: str, call_id: UUID) -> None:
    """Another client sees nothing of the proposal and cannot confirm it."""
    async with httpx.AsyncClient(
        base_url=stack.urls["calls"], timeout=30, headers={"X-Api-Key": other_key}
    ) as other:
        await get_when(
            other, "/announced-mails", lambda found: found == [],
            within=60, what="calls to know the other client's key",
        )  # fmt: skip
        refused = await other.post(f"/calls/{call_id}/announced-mail/confirm", json={})
        assert refused.status_code == 404, refused.text
        assert (await other.get(f"/calls/{call_id}/announced-mail")).status_code == 404


async def confirm_as_client(stack: Stack, key: str, call_id: UUID, proposal: Any) -> None:
    """The client confirms: the call carries the mark with the mail as its evidence, once."""
    async with httpx.AsyncClient(
        base_url=stack.urls["calls"], timeout=30, headers={"X-Api-Key": key}
    ) as client:
        path = f"/calls/{call_id}/announced-mail/confirm"
        call = expect(await client.post(path, json={"comment": "klopt, hij mailde"}), 201)
        mark = call["non_billable"]
        assert mark["reason"] == "caller_follows_up_themselves"
        assert mark["evidence"]["message_id"] == proposal["message_id"]
        assert mark["evidence"]["sender"] == SENDER
        again = await client.post(path, json={})
        assert again.status_code == 409, again.text
        after = expect(await client.get(f"/calls/{call_id}/announced-mail"), 200)
        assert after["status"] == "confirmed"


async def check_usage(
    billing: httpx.AsyncClient, client_id: UUID, period: str, call_id: UUID
) -> None:
    """Billing leaves the call out, and its explanation names the caller's mail."""
    usage = await get_when(
        billing, f"/clients/{client_id}/usage",
        lambda body: [c["status"] for c in body["calls"]] == ["non_billable"],
        within=60, what="billing to leave the call out", params={"period": period},
    )  # fmt: skip
    [decision] = usage["calls"]
    assert decision["call_id"] == str(call_id)
    assert decision["reason"] == "caller_follows_up_themselves"
    explanation = decision["explanation"]
    for part in (SUBJECT, SENDER, "tekening-1@jansen-zonen.example"):
        assert part in explanation, explanation
