"""The IMAP mailbox reader against a real Dovecot (one per session, a fresh folder per test)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from uuid import uuid4

import pytest

from libs.devstack.dovecot import LocalDovecot
from services.inbox.adapters.imap_reader import MailboxReader, MailboxState, MailboxUnavailable
from tests.support.dovecot import PASSWORD, USER

pytestmark = [pytest.mark.infra]


def reader(server: LocalDovecot, folder: str, password: str = PASSWORD) -> MailboxReader:
    return MailboxReader(
        "127.0.0.1", server.port, USER, password, tls=False, folder=folder, timeout=10
    )


def deliver(server: LocalDovecot, folder: str, subject: str) -> str:
    """Put a mail into the folder as a delivery agent would; its Message-ID."""
    mail = EmailMessage()
    mail["From"] = "piet@example.nl"
    mail["To"] = "info@bakker.example"
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{uuid4().hex}@example.nl>"
    mail.set_content(f"Over {subject}.")
    server.deliver(bytes(mail), folder)
    return str(mail["Message-ID"])


def subjects(raws: list[bytes]) -> list[str]:
    return [line.split(b": ", 1)[1].decode() for raw in raws for line in raw.splitlines()
            if line.startswith(b"Subject: ")]  # fmt: skip


async def test_a_new_mail_is_fetched_once(dovecot: LocalDovecot, folder: str) -> None:
    deliver(dovecot, folder, "offerte")
    mailbox = reader(dovecot, folder)
    try:
        first = await mailbox.fetch_new(None)
        second = await mailbox.fetch_new(first.state)
    finally:
        await mailbox.close()
    assert subjects([m.raw for m in first.mails]) == ["offerte"]
    assert second.mails == ()
    assert second.state == first.state


async def test_after_a_restart_only_what_came_meanwhile_is_fetched(
    dovecot: LocalDovecot, folder: str
) -> None:
    deliver(dovecot, folder, "een")
    deliver(dovecot, folder, "twee")
    before = reader(dovecot, folder)
    saved = (await before.fetch_new(None)).state
    await before.close()
    deliver(dovecot, folder, "drie")
    after = reader(dovecot, folder)
    try:
        result = await after.fetch_new(MailboxState(saved.uidvalidity, saved.last_uid))
    finally:
        await after.close()
    assert subjects([m.raw for m in result.mails]) == ["drie"]
    assert not result.rebuilt


async def test_a_dropped_connection_is_reported_once_and_nothing_is_lost_or_repeated(
    dovecot: LocalDovecot, folder: str
) -> None:
    deliver(dovecot, folder, "voor")
    mailbox = reader(dovecot, folder)
    try:
        state = (await mailbox.fetch_new(None)).state
        dovecot.stop()
        await dovecot.start()
        deliver(dovecot, folder, "na")
        with pytest.raises(MailboxUnavailable, match=r"connection was lost"):
            await mailbox.fetch_new(state)
        resumed = await mailbox.fetch_new(state)
    finally:
        await mailbox.close()
    assert subjects([m.raw for m in resumed.mails]) == ["na"]


async def test_wait_returns_soon_after_a_mail_arrives(dovecot: LocalDovecot, folder: str) -> None:
    mailbox = reader(dovecot, folder)
    try:
        state = (await mailbox.fetch_new(None)).state
        waiting = asyncio.create_task(mailbox.wait(timeout=60))
        await asyncio.sleep(0.5)  # let the IDLE start before the mail arrives
        deliver(dovecot, folder, "idle")
        arrived = await asyncio.wait_for(waiting, 30)
        result = await mailbox.fetch_new(state)
    finally:
        await mailbox.close()
    assert arrived
    assert subjects([m.raw for m in result.mails]) == ["idle"]


async def test_wait_gives_up_after_its_timeout(dovecot: LocalDovecot, folder: str) -> None:
    mailbox = reader(dovecot, folder)
    try:
        await mailbox.fetch_new(None)
        assert not await mailbox.wait(timeout=0.5)
        assert (await mailbox.fetch_new(None)).mails == ()
    finally:
        await mailbox.close()


async def test_a_changed_uidvalidity_starts_over(dovecot: LocalDovecot, folder: str) -> None:
    deliver(dovecot, folder, "weer")
    mailbox = reader(dovecot, folder)
    try:
        current = (await mailbox.fetch_new(None)).state
        result = await mailbox.fetch_new(MailboxState(current.uidvalidity + 1, 99))
    finally:
        await mailbox.close()
    assert result.rebuilt
    assert subjects([m.raw for m in result.mails]) == ["weer"]


async def test_the_caps_bound_one_fetch_and_the_rest_follows(
    dovecot: LocalDovecot, folder: str
) -> None:
    for subject in ("a", "b", "c"):
        deliver(dovecot, folder, subject)
    mailbox = reader(dovecot, folder)
    mailbox.max_mails = 2
    try:
        first = await mailbox.fetch_new(None)
        second = await mailbox.fetch_new(first.state)
    finally:
        await mailbox.close()
    assert (subjects([m.raw for m in first.mails]), first.more) == (["a", "b"], True)
    assert (subjects([m.raw for m in second.mails]), second.more) == (["c"], False)


async def test_a_wrong_password_is_unavailable_without_the_password(
    dovecot: LocalDovecot, folder: str
) -> None:
    wrong = "not-the-password-4711"
    mailbox = reader(dovecot, folder, password=wrong)
    with pytest.raises(MailboxUnavailable, match="login refused") as caught:
        await mailbox.fetch_new(None)
    assert wrong not in str(caught.value)
    assert wrong not in repr(mailbox)
