"""The inbox as a process, finding the mail a caller announced on the phone (the seed's rule):
whichever of the note and the mail the inbox hears of first, the call is proposed once; a later
note without "the caller will e-mail" withdraws it; a mail delivered again proposes nothing new.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

import aiosmtplib
import pytest

from libs.events.inbox import AnnouncedMailFound
from libs.events.routing import OperatorRegistered
from tests.support.builders import call_received, note_recorded, registered
from tests.support.pipeline import wait_until
from tests.support.stack import (
    Infrastructure,
    Stack,
    expect,
    private_world,
    running_stack,
    topic_events,
)

pytestmark = [pytest.mark.infra]


@pytest.fixture(scope="module")
async def inbox(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, UUID, str]]:
    home = tmp_path_factory.mktemp("inbox-announced")
    async with (
        private_world(infra, home) as world,
        running_stack(
            Stack, world, "services.inbox.app:create_app", feeds=("intake", "routing", "calls")
        ) as stack,
    ):
        signed_up = registered(at=datetime.now(UTC) - timedelta(days=30))
        await stack.append([signed_up])
        joined = OperatorRegistered(
            occurred_at=signed_up.occurred_at, operator_id="op-anna", name="Anna",
            languages=("nl",),
        )  # fmt: skip
        await stack.stores["routing"].append("operator-op-anna", None, [joined])
        path = f"/clients/{signed_up.client_id}/mailbox"
        body = {"client_address": "info@bakker.nl", "answer_within_minutes": 240,
                "send_as": "on_behalf"}  # fmt: skip

        async def configured() -> bool:
            return (await stack.http.put(path, json=body)).status_code == 200

        await wait_until(configured, within=60, what="the inbox knows the client")
        box = expect(await stack.http.get(path), 200)
        yield stack, signed_up.client_id, box["forwarding_address"]


def mail(to: str, message_id: str, sender: str, signature: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Piet Jansen <{sender}>"
    message["To"] = to
    message["Subject"] = "Foto's lekkage"
    message["Message-ID"] = message_id
    message.set_content(f"Goedemiddag,\n\nHierbij de foto's.\n\nGroet,\nPiet\n{signature}\n")
    return message


async def send(stack: Stack, message: EmailMessage) -> None:
    port = int(stack.process.env["FRONTDESK_INBOX_SMTP_PORT"])
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10)


async def announced(stack: Stack, call_id: UUID) -> list[AnnouncedMailFound]:
    events = await topic_events(stack.world, "inbox", unique=True)
    return [e for e in events if isinstance(e, AnnouncedMailFound) and e.call_id == call_id]


async def kept(stack: Stack, message_id: str) -> None:
    async def there() -> bool:
        row = await stack.pool.fetchval(
            f"SELECT 1 FROM {stack.schema}.mails WHERE message_id = $1", message_id
        )
        return row is not None

    await wait_until(there, within=30, what=f"mail {message_id} kept")


async def expecting(stack: Stack, call_id: UUID, present: bool) -> None:
    async def known() -> bool:
        row = await stack.pool.fetchval(
            f"SELECT 1 FROM {stack.schema}.announced_mails WHERE call_id = $1", call_id
        )
        return (row is not None) == present

    await wait_until(known, within=30, what=f"the inbox to {'keep' if present else 'drop'} it")


async def test_a_mail_kept_before_its_note_arrived_is_still_found(
    inbox: tuple[Stack, UUID, str],
) -> None:
    stack, client_id, address = inbox
    call = call_received(client_id, at=datetime.now(UTC) - timedelta(minutes=10))
    await send(stack, mail(address, "<early@example.nl>", "piet@jansen.example"))
    await kept(stack, "early@example.nl")
    note = note_recorded(
        call, "Stuurt foto's van de lekkage", at=call.received_at + timedelta(minutes=2),
        follow_up="caller_will_email", follow_up_detail="mailt vanaf Piet@Jansen.example",
    )  # fmt: skip
    await stack.append([call, note])

    async def found() -> bool:
        return len(await announced(stack, call.call_id)) == 1

    await wait_until(found, within=30, what="the announced mail found")
    [event] = await announced(stack, call.call_id)
    assert (event.matched_by, event.sender) == ("address", "piet@jansen.example")
    assert event.message_id == "early@example.nl"

    await send(stack, mail(address, "<early@example.nl>", "piet@jansen.example"))  # again
    await send(stack, mail(address, "<later@example.nl>", "piet@jansen.example"))  # another
    await kept(stack, "later@example.nl")
    assert len(await announced(stack, call.call_id)) == 1


async def test_a_later_note_without_the_follow_up_withdraws_it(
    inbox: tuple[Stack, UUID, str],
) -> None:
    stack, client_id, address = inbox
    call = call_received(client_id, at=datetime.now(UTC) - timedelta(minutes=5))
    first = note_recorded(
        call, "Mailt de offerte", at=call.received_at + timedelta(minutes=1),
        follow_up="caller_will_email", caller_number="+31611122233",
    )  # fmt: skip
    await stack.append([call, first])
    await expecting(stack, call.call_id, present=True)
    second = note_recorded(
        call, "Belt morgen terug", at=call.received_at + timedelta(minutes=2),
        follow_up="caller_will_call_back", caller_number="+31611122233",
    )  # fmt: skip
    await stack.append([second])
    await expecting(stack, call.call_id, present=False)
    await send(stack, mail(address, "<withdrawn@example.nl>", "x@example.nl", "06-11122233"))
    await kept(stack, "withdrawn@example.nl")
    assert await announced(stack, call.call_id) == []


async def test_the_mail_after_the_note_is_found_by_the_number_in_its_signature(
    inbox: tuple[Stack, UUID, str],
) -> None:
    stack, client_id, address = inbox
    call = call_received(client_id, at=datetime.now(UTC) - timedelta(minutes=3))
    note = note_recorded(
        call, "Stuurt de tekening", at=call.received_at + timedelta(minutes=1),
        follow_up="caller_will_email", caller_number="+31644455566",
    )  # fmt: skip
    await stack.append([call, note])
    await expecting(stack, call.call_id, present=True)
    await send(stack, mail(address, "<drawing@example.nl>", "other@example.nl", "T: 06 444 555 66"))

    async def found() -> bool:
        return len(await announced(stack, call.call_id)) == 1

    await wait_until(found, within=30, what="the announced mail found by number")
    [event] = await announced(stack, call.call_id)
    assert event.matched_by == "number"
