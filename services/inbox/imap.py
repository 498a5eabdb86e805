"""Reading a client's own mailbox over IMAP, each mail once, across restarts.

The client's login is sealed (libs/platform/sealed.py, bound to the client) and kept only in
`imap_mailboxes`. How far the mailbox was read (its UIDVALIDITY and the last UID kept) is kept
there too, moved on after each mail is kept; a crash in between fetches that mail again, and
keeping it again changes nothing (its Message-ID is known). The server must be reached over
TLS and at a public address, unless the settings allow otherwise (local test servers).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import structlog

from libs.errors import NotFound, Rejected
from libs.events.envelope import Actor
from libs.events.inbox import MailboxConfigured
from libs.platform.outbound import OutboundRefused, checked_address
from libs.platform.sealed import SecretBox, SecretUnreadable
from libs.platform.store import EventStore
from services.inbox import conversations, mailboxes
from services.inbox.adapters.imap_reader import MailboxReader, MailboxState, MailboxUnavailable
from services.inbox.domain.mail import UnreadableMail, parse
from services.inbox.settings import InboxSettings

log = structlog.get_logger(__name__)
BATCH = 50


def secret_context(client_id: UUID) -> str:
    """What a sealed IMAP login is bound to: this client's mailbox only."""
    return f"imap-credential:{client_id}"


async def check_host(host: str, port: int, tls: bool, config: InboxSettings) -> None:
    """Rejected unless the server is reached over TLS and at a permitted address."""
    if not tls and not config.allow_plain_imap:
        raise Rejected("an IMAP mailbox is read over TLS (port 993)")
    try:
        url = httpx.URL(scheme="https", host=host, port=port)
        async with asyncio.timeout(config.imap_timeout_seconds):
            await checked_address(url, config.outbound_policy)
    except (httpx.InvalidURL, OutboundRefused) as exc:
        raise Rejected(f"the IMAP server is not allowed: {exc}") from exc
    except TimeoutError as exc:
        raise Rejected(f"the IMAP server {host} could not be looked up in time") from exc


async def link(
    store: EventStore, box: SecretBox | None, config: InboxSettings, client_id: UUID, *,
    host: str, port: int, tls: bool, username: str, password: str, folder: str, actor: Actor,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Read the client's mailbox from now on (mail already in it is left alone): checked by
    logging in once, the login sealed."""
    if box is None:
        raise Rejected("no secret keys are configured: a mailbox login cannot be kept here")
    current = await mailboxes.get(store.pool, store.schema, client_id)
    if current is None:
        raise NotFound(f"client {client_id} has no mailbox handled by the bureau: set it first")
    await check_host(host, port, tls, config)
    reader = MailboxReader(host, port, username, password, tls=tls, folder=folder,
                           timeout=config.imap_timeout_seconds, max_mails=1)  # fmt: skip
    try:
        mark = await reader.mark()  # what is there already stays the client's own business
    except MailboxUnavailable as exc:
        raise Rejected(f"the mailbox could not be read with what was given: {exc}") from exc
    finally:
        await reader.close()
    sealed = box.seal(password, secret_context(client_id))
    async with store.transaction() as conn:
        row = await conn.fetchrow(
            f"SELECT * FROM {store.schema}.mailboxes WHERE client_id = $1 FOR UPDATE", client_id
        )
        assert row is not None
        event = MailboxConfigured(
            client_id=client_id, occurred_at=at, actor=actor,
            forwarding_address=row["forwarding_address"], client_address=row["client_address"],
            client_name=row["client_name"], answer_within_minutes=row["answer_within_minutes"],
            send_as=row["send_as"], imap_host=host[:500], imap_user=username[:500],
        )  # fmt: skip
        await store.append(mailboxes.stream(client_id), row["version"], [event], conn=conn)
        await conn.execute(
            f"UPDATE {store.schema}.mailboxes SET version = version + 1, updated_at = $2 "
            "WHERE client_id = $1",
            client_id, at,
        )  # fmt: skip
        saved = await conn.fetchrow(
            f"INSERT INTO {store.schema}.imap_mailboxes (client_id, host, port, tls, username, "
            "folder, secret, uidvalidity, last_uid, next_read_at, updated_at) VALUES ($1, $2, "
            "$3, $4, $5, $6, $7, $8, $10, $9, $9) ON CONFLICT (client_id) DO UPDATE SET "
            "host = EXCLUDED.host, port = EXCLUDED.port, tls = EXCLUDED.tls, "
            "username = EXCLUDED.username, folder = EXCLUDED.folder, secret = EXCLUDED.secret, "
            "uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid, "
            "next_read_at = EXCLUDED.next_read_at, "
            "updated_at = EXCLUDED.updated_at RETURNING *",
            client_id, host, port, tls, username, folder, sealed, mark.uidvalidity, at,
            mark.last_uid,
        )  # fmt: skip
    assert saved is not None
    return view(dict(saved))


def view(row: dict[str, Any]) -> dict[str, Any]:
    """The linked mailbox as answers show it: never the login's password."""
    return {k: row[k] for k in ("client_id", "host", "port", "tls", "username", "folder",
                                "last_uid", "last_read_at", "last_error")}  # fmt: skip


async def read_due(
    store: EventStore, box: SecretBox | None, config: InboxSettings, now: datetime
) -> int:
    """Read every linked mailbox whose turn it is (claimed, so instances share the work)."""
    schema = store.schema
    rows = await store.pool.fetch(
        f"UPDATE {schema}.imap_mailboxes SET next_read_at = $2 WHERE client_id IN ("
        f"SELECT client_id FROM {schema}.imap_mailboxes WHERE next_read_at <= $1 "
        "ORDER BY next_read_at LIMIT 20 FOR UPDATE SKIP LOCKED) RETURNING *",
        now, now + timedelta(seconds=config.imap_poll_seconds),
    )  # fmt: skip
    kept = 0
    for row in rows:
        kept += await read_one(store, box, config, dict(row), now)
    return kept


async def read_one(
    store: EventStore, box: SecretBox | None, config: InboxSettings, row: dict[str, Any],
    now: datetime,
) -> int:  # fmt: skip
    """Fetch one mailbox's new mail and keep each, moving the mark on after each one."""
    client_id = row["client_id"]
    try:
        password = box.open(row["secret"], secret_context(client_id)) if box else None
    except SecretUnreadable:
        password = None
    if password is None:
        await _failed(store, client_id, now, "the mailbox login cannot be opened here")
        return 0
    reader = MailboxReader(
        row["host"], row["port"], row["username"], password, tls=row["tls"],
        folder=row["folder"], timeout=config.imap_timeout_seconds, max_mails=BATCH,
        max_mail_bytes=config.max_mail_bytes,
    )  # fmt: skip
    state = MailboxState(row["uidvalidity"], row["last_uid"]) if row["uidvalidity"] else None
    kept = 0
    try:
        found = await reader.fetch_new(state)
        for fetched in found.mails:
            try:
                mail = parse(fetched.raw)
            except UnreadableMail as exc:
                log.warning("inbox.imap_unreadable", client_id=str(client_id), error=str(exc))
            else:
                if await conversations.keep(
                    store, client_id, mail, fetched.raw, via="imap", at=now,
                    max_attachment_bytes=config.max_attachment_bytes,
                ):  # fmt: skip
                    kept += 1
            await _read_up_to(store, client_id, found.state.uidvalidity, fetched.uid, now)
        if not found.mails:
            await _read_up_to(store, client_id, found.state.uidvalidity, found.state.last_uid, now)
    except MailboxUnavailable as exc:
        await _failed(store, client_id, now, str(exc)[:400])
    finally:
        await reader.close()
    return kept


async def _read_up_to(
    store: EventStore, client_id: UUID, uidvalidity: int, uid: int, now: datetime
) -> None:
    await store.pool.execute(
        f"UPDATE {store.schema}.imap_mailboxes SET uidvalidity = $2, last_uid = $3, "
        "last_read_at = $4, last_error = '' WHERE client_id = $1",
        client_id, uidvalidity, uid, now,
    )  # fmt: skip


async def _failed(store: EventStore, client_id: UUID, now: datetime, error: str) -> None:
    log.warning("inbox.imap_unavailable", client_id=str(client_id), error=error)
    await store.pool.execute(
        f"UPDATE {store.schema}.imap_mailboxes SET last_read_at = $2, last_error = $3 "
        "WHERE client_id = $1",
        client_id, now, error,
    )  # fmt: skip
