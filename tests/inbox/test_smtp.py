"""The inbound SMTP listener in real SMTP sessions (aiosmtplib talking to it over TCP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from uuid import UUID

import aiosmtplib
import pytest

from services.inbox.adapters.smtp_listener import Delivery, InboundSmtp
from tests.support.processes import free_port

CLIENT = UUID(int=7)
ADDRESS = "info-bakker@in.frontdesk.example"
LIMIT = 64 * 1024


class Kept:
    """What the listener handed over, and whether keeping should fail for now."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.failing = False

    async def resolve(self, address: str) -> UUID | None:
        return CLIENT if address == ADDRESS else None

    async def deliver(self, delivery: Delivery) -> None:
        if self.failing:
            raise ConnectionError("the database is away")
        self.deliveries.append(delivery)


@pytest.fixture
async def listener() -> AsyncIterator[tuple[InboundSmtp, Kept]]:
    kept = Kept()
    server = InboundSmtp("127.0.0.1", free_port(), kept.resolve, kept.deliver, max_bytes=LIMIT)
    await server.start()
    yield server, kept
    await server.stop()


def message(to: str = ADDRESS, body: str = "Graag een offerte.") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "piet@example.nl"
    mail["To"] = to
    mail["Subject"] = "Offerte"
    mail["Message-ID"] = "<m1@example.nl>"
    mail.set_content(body)
    return mail


async def test_a_mail_to_a_forwarding_address_is_kept_with_its_client(
    listener: tuple[InboundSmtp, Kept],
) -> None:
    server, kept = listener
    errors, answer = await aiosmtplib.send(message(), hostname="127.0.0.1", port=server.port)
    assert errors == {}
    assert answer.startswith("2.0.0 Kept")
    [delivery] = kept.deliveries
    assert delivery.recipients == ((ADDRESS, CLIENT),)
    assert delivery.mail_from == "piet@example.nl"
    assert b"Message-ID: <m1@example.nl>" in delivery.raw


async def test_an_unknown_recipient_is_refused_at_rcpt(listener: tuple[InboundSmtp, Kept]) -> None:
    server, kept = listener
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            message(to="nobody@in.frontdesk.example"), hostname="127.0.0.1", port=server.port
        )
    [error] = refused.value.recipients
    assert error.code == 550
    assert kept.deliveries == []


async def test_an_oversized_mail_is_refused_when_declared_and_when_it_arrives(
    listener: tuple[InboundSmtp, Kept],
) -> None:
    server, kept = listener
    big = message(body="x" * (LIMIT + 1024))
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:  # SIZE= in MAIL FROM
        await aiosmtplib.send(big, hostname="127.0.0.1", port=server.port)
    assert declared.value.code == 552
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port)
    async with client:  # a sender that does not say how big it is
        await client.mail("piet@example.nl")
        await client.rcpt(ADDRESS)
        with pytest.raises(aiosmtplib.SMTPDataError) as arrived:
            await client.data(bytes(big))
    assert arrived.value.code == 552
    assert kept.deliveries == []


async def test_a_mail_that_cannot_be_kept_is_refused_for_now_not_lost(
    listener: tuple[InboundSmtp, Kept],
) -> None:
    server, kept = listener
    kept.failing = True
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await aiosmtplib.send(message(), hostname="127.0.0.1", port=server.port)
    assert refused.value.code == 451  # the sending server keeps it and tries again
    kept.failing = False
    await aiosmtplib.send(message(), hostname="127.0.0.1", port=server.port)
    assert len(kept.deliveries) == 1
