"""Replies and forwards going out over SMTP, threaded to the conversation.

The mail is sent first, then recorded (ReplySent / ConversationForwarded, and its Message-ID
kept so that the sender's answer threads back into the conversation). The API takes an
Idempotency-Key, so a client that retries after a timeout does not send twice.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from functools import partial
from typing import Any, Literal
from uuid import UUID

import aiosmtplib
import structlog

from libs.errors import Conflict, NotFound
from libs.events.envelope import Event, new_id
from libs.events.inbox import ConversationForwarded, ReplySent
from libs.platform.auth import Principal
from libs.platform.store import EventStore
from services.inbox import conversations, directory, mailboxes, metrics
from services.inbox.domain import conversations as domain
from services.inbox.domain.mail import parse
from services.inbox.domain.replies import FORWARDED, Sender, reply
from services.inbox.settings import InboxSettings

log = structlog.get_logger(__name__)


class RelayUnavailable(Exception):
    """The SMTP relay did not take the mail."""


async def relay(message: EmailMessage, config: InboxSettings) -> None:
    """Hand a mail to the relay; RelayUnavailable when it does not take it."""
    password = config.relay_password.get_secret_value() if config.relay_password else None
    try:
        await aiosmtplib.send(
            message, hostname=config.relay_host, port=config.relay_port,
            username=config.relay_username or None, password=password,
            start_tls=config.relay_starttls, timeout=30,
        )  # fmt: skip
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise RelayUnavailable(f"the mail relay did not take the mail: {exc}") from exc


async def answer(
    store: EventStore, config: InboxSettings, conversation_id: UUID,
    how: Literal["reply", "forward"], *, caller: Principal, at: datetime, text: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Reply to the last mail's sender, or forward the last mail to the client."""
    schema = store.schema
    current = await conversations.get(store.pool, schema, conversation_id, caller.tenant)
    if current is None:
        raise NotFound(f"no conversation {conversation_id}")
    domain.answered(conversations.state(current), "replied")  # refused if finished
    raw = await store.pool.fetchval(
        f"SELECT raw FROM {schema}.mails WHERE mail_id = $1", current["last_mail_id"]
    )
    box = await mailboxes.get(store.pool, schema, current["client_id"])
    if raw is None or box is None:
        raise Conflict("the conversation's last mail or the client's mailbox is not kept")
    original = parse(bytes(raw))
    facts = await directory.client_facts(store.pool, schema, current["client_id"])
    language = facts.language if facts else "nl"
    domain_part = config.bureau_address.rsplit("@", 1)[-1]
    if how == "reply":
        sender = Sender(box["client_name"], box["client_address"], config.bureau_address,
                        box["send_as"], language)  # fmt: skip
        message = reply(original, text, sender, at=at, domain=domain_part)
        to = original.sender
    else:
        note = text.strip() or FORWARDED.get(language, FORWARDED["nl"])
        message = _forward(original.subject, bytes(raw), box["client_address"],
                           config.bureau_address, at, domain_part, note)  # fmt: skip
        to = box["client_address"]
    try:
        await relay(message, config)
    except RelayUnavailable:
        metrics.REPLIES.labels(how, "failed").inc()
        raise
    metrics.REPLIES.labels(how, "sent").inc()
    message_id = str(message["Message-ID"]).strip("<>")
    async with store.transaction() as conn:
        row = await conversations.lock(conn, schema, conversation_id, caller.tenant)
        base = conversations.envelope(row, at, caller.actor())
        event: Event
        if how == "reply":
            after = domain.answered(conversations.state(row), "replied")
            event = ReplySent(
                **base, message_id=message_id[:500], in_reply_to=original.message_id[:500],
                to=to, subject=str(message["Subject"])[:500], text=text.strip()[:50_000],
            )  # fmt: skip
        else:
            after = domain.answered(conversations.state(row), "forwarded")
            event = ConversationForwarded(**base, to=to, message_id=message_id[:500])
        saved = await conversations.save(
            conn, schema, partial(store.append, conn=conn), row, after, [event], at
        )
        await conn.execute(
            f"INSERT INTO {schema}.mails (mail_id, client_id, conversation_id, message_id, "
            "direction, sender, subject, received_at) VALUES ($1, $2, $3, $4, 'out', $5, $6, $7) "
            "ON CONFLICT (client_id, message_id) DO NOTHING",
            new_id(), row["client_id"], conversation_id, message_id,
            str(message["From"].addresses[0].addr_spec), str(message["Subject"]), at,
        )  # fmt: skip
    log.info("inbox.answered", conversation_id=str(conversation_id), how=how)
    return dict(saved)


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
