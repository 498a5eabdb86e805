"""Replies and forwards: recorded first, then sent by the outbox, threaded to the conversation.

`answer()` builds the mail (its Message-ID fixed there and then) and, in one transaction,
appends ReplySent / ConversationForwarded, moves the conversation, keeps the mail's 'out' row
(so the sender's answer threads back into the conversation) and queues the rendered bytes in
`outgoing`; the commit wakes the outbox worker (services/inbox/workers/outbox.py), which
hands those very bytes to the relay. A crash before the commit leaves nothing and sends
nothing; after it, the worker sends the mail however often the process restarts, always with
the Message-ID the event recorded. The API takes an Idempotency-Key, so a client that retries
after a timeout queues one mail, not two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import Any, Literal
from uuid import UUID

import aiosmtplib
import asyncpg
import structlog
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from libs.errors import Conflict, NotFound
from libs.events.envelope import Event, new_id
from libs.events.inbox import ConversationForwarded, ReplySent
from libs.platform.auth import Principal
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.inbox import conversations, directory, mailboxes
from services.inbox.directory import Queryable
from services.inbox.domain import conversations as domain
from services.inbox.domain.mail import Mail, parse
from services.inbox.domain.replies import FORWARDED, Sender, reply
from services.inbox.settings import InboxSettings

log = structlog.get_logger(__name__)
Kind = Literal["reply", "forward"]
STATUS_AFTER: dict[Kind, Literal["replied", "forwarded"]] = {
    "reply": "replied", "forward": "forwarded",
}  # fmt: skip
OUTGOING_COLUMNS = (
    "outgoing_id, kind, message_id, rcpt_to, state, attempts, sent_at, last_error, created_at"
)


class RelayUnavailable(Exception):
    """The SMTP relay did not take the mail."""


def wake_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes the outbox worker when a mail is queued."""
    return f"{schema}_outgoing"


async def relay(raw: bytes, mail_from: str, rcpt_to: Sequence[str], config: InboxSettings) -> None:
    """Hand a rendered mail to the relay; RelayUnavailable when it does not take it."""
    password = config.relay_password.get_secret_value() if config.relay_password else None
    try:
        await aiosmtplib.send(
            raw, sender=mail_from, recipients=list(rcpt_to), hostname=config.relay_host,
            port=config.relay_port, username=config.relay_username or None, password=password,
            start_tls=config.relay_starttls, timeout=30,
        )  # fmt: skip
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        raise RelayUnavailable(f"the mail relay did not take the mail: {exc}") from exc


async def answer(
    store: EventStore, config: InboxSettings, conversation_id: UUID, how: Kind, *,
    caller: Principal, at: datetime, text: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Reply to the last mail's sender, or forward the last mail to the client: recorded and
    queued in one transaction; the outbox worker sends it right after the commit."""
    schema = store.schema
    current = await conversations.get(store.pool, schema, conversation_id, caller.tenant)
    if current is None:
        raise NotFound(f"no conversation {conversation_id}")
    domain.answered(conversations.state(current), "replied")  # refused if finished
    original, message = await _compose(store.pool, schema, config, current, how, text, at)
    async with store.transaction() as conn:
        row = await conversations.lock(conn, schema, conversation_id, caller.tenant)
        event = _event(row, how, original, message, text, at, caller)
        after = domain.answered(conversations.state(row), STATUS_AFTER[how])
        saved = await conversations.save(
            conn, schema, partial(store.append, conn=conn), row, after, [event], at
        )
        await _keep_out(conn, schema, row, message, at)
        outgoing = await enqueue(conn, schema, row, how, message, at)
    conversations.counted_answer(conversations.state(row), STATUS_AFTER[how], at)
    log.info(
        "inbox.answer_queued", conversation_id=str(conversation_id), how=how,
        outgoing_id=str(outgoing["outgoing_id"]),
    )  # fmt: skip
    return {**dict(saved), "outgoing": outgoing}


async def _compose(
    db: Queryable, schema: str, config: InboxSettings, current: dict[str, Any], how: Kind,
    text: str, at: datetime,
) -> tuple[Mail, EmailMessage]:  # fmt: skip
    """The conversation's last mail, and the reply to it or the forward of it."""
    raw = await db.fetchval(
        f"SELECT raw FROM {schema}.mails WHERE mail_id = $1", current["last_mail_id"]
    )
    box = await mailboxes.get(db, schema, current["client_id"])
    if raw is None or box is None:
        raise Conflict("the conversation's last mail or the client's mailbox is not kept")
    original = parse(bytes(raw))
    facts = await directory.client_facts(db, schema, current["client_id"])
    language = facts.language if facts else "nl"
    domain_part = config.bureau_address.rsplit("@", 1)[-1]
    if how == "reply":
        sender = Sender(box["client_name"], box["client_address"], config.bureau_address,
                        box["send_as"], language)  # fmt: skip
        return original, reply(original, text, sender, at=at, domain=domain_part)
    note = text.strip() or FORWARDED.get(language, FORWARDED["nl"])
    forwarded = _forward(original.subject, bytes(raw), box["client_address"],
                         config.bureau_address, at, domain_part, note)  # fmt: skip
    return original, forwarded


def _event(
    row: asyncpg.Record, how: Kind, original: Mail, message: EmailMessage, text: str,
    at: datetime, caller: Principal,
) -> Event:  # fmt: skip
    """ReplySent or ConversationForwarded, naming the mail's Message-ID."""
    base = conversations.envelope(row, at, caller.actor())
    message_id = message_id_of(message)[:500]
    to = extract_recipients(message)[0]
    if how == "forward":
        return ConversationForwarded(**base, to=to, message_id=message_id)
    return ReplySent(
        **base, message_id=message_id, in_reply_to=original.message_id[:500], to=to,
        subject=str(message["Subject"])[:500], text=text.strip()[:50_000],
    )  # fmt: skip


def message_id_of(message: EmailMessage) -> str:
    """The mail's Message-ID without its angle brackets."""
    return str(message["Message-ID"]).strip().strip("<>")


async def _keep_out(
    conn: Connection, schema: str, row: asyncpg.Record, message: EmailMessage, at: datetime
) -> None:
    """The mail's 'out' row of the conversation, which the sender's answer threads to."""
    await conn.execute(
        f"INSERT INTO {schema}.mails (mail_id, client_id, conversation_id, message_id, "
        "direction, sender, subject, received_at) VALUES ($1, $2, $3, $4, 'out', $5, $6, $7) "
        "ON CONFLICT (client_id, message_id) DO NOTHING",
        new_id(), row["client_id"], row["conversation_id"], message_id_of(message),
        str(message["From"].addresses[0].addr_spec), str(message["Subject"]), at,
    )  # fmt: skip


async def enqueue(
    conn: Connection, schema: str, row: asyncpg.Record, how: Kind, message: EmailMessage,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Queue the mail's bytes as they will go out (7-bit clean, so any relay takes them) and
    wake the worker when the transaction commits; the queued row as the API shows it."""
    sender = extract_sender(message)
    assert sender is not None  # both kinds of mail are built with a From
    queued = await conn.fetchrow(
        f"INSERT INTO {schema}.outgoing (outgoing_id, client_id, conversation_id, kind, "
        "message_id, raw, mail_from, rcpt_to, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
        f"$8, $9) RETURNING {OUTGOING_COLUMNS}",
        new_id(), row["client_id"], row["conversation_id"], how, message_id_of(message),
        flatten_message(message, utf8=False, cte_type="7bit"), sender,
        extract_recipients(message), at,
    )  # fmt: skip
    await conn.execute("SELECT pg_notify($1, '')", wake_channel(schema))
    assert queued is not None
    return view(queued)


def view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An outgoing mail as the API shows it: queued (also while being handed over), sent or
    failed (given up)."""
    found = dict(row)
    state = "queued" if found["state"] == "sending" else found["state"]
    return {**found, "state": state}


async def outgoing_of(db: Queryable, schema: str, conversation_id: UUID) -> list[dict[str, Any]]:
    """A conversation's replies and forwards on their way out, oldest first."""
    rows = await db.fetch(
        f"SELECT {OUTGOING_COLUMNS} FROM {schema}.outgoing WHERE conversation_id = $1 "
        "ORDER BY created_at, outgoing_id",
        conversation_id,
    )
    return [view(row) for row in rows]


def _forward(
    subject: str, raw: bytes, to: str, bureau: str, at: datetime, domain: str, note: str
) -> EmailMessage:
    """The client's own copy of a mail: a note, and the mail itself attached."""
    message = EmailMessage()
    message["From"] = bureau
    message["To"] = to
    message["Subject"] = f"Fwd: {subject}".strip()
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(note)
    message.add_attachment(BytesParser(policy=policy.default).parsebytes(raw))
    return message
