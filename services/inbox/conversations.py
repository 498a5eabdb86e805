"""Mails kept as they come in, and the conversations they make, in the inbox's tables.

A delivered mail is kept once per client (its Message-ID is unique per client): a second
delivery, or the same mail fetched again, changes nothing. It joins the conversation of the
mail it answers, or opens one; the conversation's row and its events (stream
`conversation-<id>`, the row's version) change together with the row locked. Attachments
are stored apart, by their SHA-256, within a size limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal
from uuid import UUID

import asyncpg
import structlog

from libs.errors import Forbidden, NotFound
from libs.events.envelope import SYSTEM, Actor, Event, new_id
from libs.events.inbox import (
    AnswerUndeliverable,
    AttachmentRef,
    ConversationAssigned,
    ConversationEscalated,
    ConversationHandled,
    ConversationMarkedSpam,
    ConversationOpened,
    LeftOut,
    MailReceived,
    Via,
)
from libs.platform.auth import Principal
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.inbox import directory, follow_ups, mailboxes, metrics
from services.inbox.directory import Queryable
from services.inbox.domain import conversations as domain
from services.inbox.domain.conversations import Conversation
from services.inbox.domain.language import language_of
from services.inbox.domain.mail import Mail, parse

log = structlog.get_logger(__name__)
MAX_ATTACHMENTS = 50
"""Attachments kept of one mail (MailReceived names at most this many)."""


def stream(conversation_id: UUID) -> str:
    """The stream of one conversation's events."""
    return f"conversation-{conversation_id}"


def state(row: asyncpg.Record | Mapping[str, Any]) -> Conversation:
    """The conversation a row holds."""
    return Conversation(
        conversation_id=row["conversation_id"], client_id=row["client_id"],
        language=row["language"], due_at=row["due_at"], status=row["status"],
        assigned_to=row["assigned_to"], escalated=row["escalated"], mails=row["mails"],
        awaiting_since=row["awaiting_since"],
    )  # fmt: skip


async def keep(
    store: EventStore, client_id: UUID, mail: Mail, raw: bytes, *, via: Via, at: datetime,
    max_attachment_bytes: int,
) -> UUID | None:  # fmt: skip
    """Keep a mail for a client; its conversation, or None when it was kept before (or the
    client has no mailbox any more)."""
    schema = store.schema
    async with store.transaction() as conn:
        box = await mailboxes.get(conn, schema, client_id)
        facts = await directory.client_facts(conn, schema, client_id)
        if box is None or facts is None:
            return None
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"inbox:{client_id}")
        seen = await conn.fetchval(
            f"SELECT 1 FROM {schema}.mails WHERE client_id = $1 AND message_id = $2",
            client_id, mail.message_id,
        )  # fmt: skip
        if seen:
            metrics.MAILS.labels(via, "duplicate").inc()
            return None
        within = timedelta(minutes=box["answer_within_minutes"])
        known = await _known_ids(conn, schema, client_id, mail)
        found = domain.conversation_of(mail, known)
        mail_id = new_id()
        refs, left_out = await _store_attachments(conn, schema, mail_id, mail, max_attachment_bytes)
        envelope = {"client_id": client_id, "occurred_at": at}
        if found is None:
            language = language_of(f"{mail.subject}\n{mail.text}", facts.language)
            due = domain.due_at(facts.office_hours, at, within)
            conversation = Conversation(new_id(), client_id, language, due, awaiting_since=at)
            opened: list[Event] = [
                ConversationOpened(
                    **envelope, conversation_id=conversation.conversation_id,
                    topic=mail.topic[:500], language=language,
                )
            ]  # fmt: skip
            row = None
        else:
            row = await lock(conn, schema, found)
            conversation = domain.received_again(state(row), facts.office_hours, at, within)
            opened = []
        received = MailReceived(
            **envelope, conversation_id=conversation.conversation_id, mail_id=mail_id,
            message_id=mail.message_id[:500], via=via, sender=mail.sender,
            sender_name=mail.sender_name[:500], subject=mail.subject[:500],
            text=mail.text[:50_000], html=mail.html[:50_000],
            in_reply_to=(mail.in_reply_to or "")[:500] or None, attachments=refs,
            left_out=left_out,
            received_at=at, due_at=conversation.due_at,
        )  # fmt: skip
        emit = partial(store.append, conn=conn)
        await save(conn, schema, emit, row, conversation, [*opened, received], at, mail_id,
                   topic=mail.topic)  # fmt: skip
        await conn.execute(
            f"INSERT INTO {schema}.mails (mail_id, client_id, conversation_id, message_id, "
            "direction, sender, subject, received_at, raw) VALUES ($1, $2, $3, $4, 'in', $5, "
            "$6, $7, $8)",
            mail_id, client_id, conversation.conversation_id, mail.message_id, mail.sender,
            mail.subject, at, raw,
        )  # fmt: skip
        announced = await follow_ups.look_for_calls(
            conn, schema, emit, client_id, mail, mail_id, conversation.conversation_id, at
        )
    follow_ups.counted(announced)
    metrics.MAILS.labels(via, "kept").inc()
    metrics.RECEIVED.labels(str(client_id), via).inc()
    log.info(
        "inbox.mail_kept", client_id=str(client_id), conversation=str(conversation.conversation_id)
    )
    return conversation.conversation_id


async def _known_ids(conn: Connection, schema: str, client_id: UUID, mail: Mail) -> dict[str, UUID]:
    referred = [m for m in (mail.in_reply_to, *mail.references) if m]
    if not referred:
        return {}
    rows = await conn.fetch(
        f"SELECT message_id, conversation_id FROM {schema}.mails "
        "WHERE client_id = $1 AND message_id = ANY($2::text[])",
        client_id, referred,
    )  # fmt: skip
    return {row["message_id"]: row["conversation_id"] for row in rows}


async def _store_attachments(
    conn: Connection, schema: str, mail_id: UUID, mail: Mail, limit: int
) -> tuple[tuple[AttachmentRef, ...], tuple[LeftOut, ...]]:
    """Keep the mail's attachments apart (each once by its SHA-256); those too big, or beyond
    the 50 a mail may carry, are left out with the reason, and the mail is kept without them."""
    refs: list[AttachmentRef] = []
    left_out: list[LeftOut] = []
    for number, attachment in enumerate(mail.attachments):
        reason = (
            f"more than {MAX_ATTACHMENTS} attachments" if number >= MAX_ATTACHMENTS
            else f"larger than the {_size(limit)} kept per attachment"
            if attachment.size > limit else ""
        )  # fmt: skip
        if reason:
            log.warning("inbox.attachment_left_out", size=attachment.size, reason=reason)
            if len(left_out) < MAX_ATTACHMENTS:
                left_out.append(
                    LeftOut(
                        filename=attachment.filename[:500],
                        content_type=attachment.content_type[:500], size=attachment.size,
                        reason=reason,
                    )
                )  # fmt: skip
            continue
        await conn.execute(
            f"INSERT INTO {schema}.attachments (sha256, content_type, size, data) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING",
            attachment.sha256, attachment.content_type[:200], attachment.size, attachment.data,
        )  # fmt: skip
        await conn.execute(
            f"INSERT INTO {schema}.mail_attachments (mail_id, sha256, filename) "
            "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            mail_id, attachment.sha256, attachment.filename,
        )  # fmt: skip
        refs.append(
            AttachmentRef(
                filename=attachment.filename, content_type=attachment.content_type[:200],
                size=attachment.size, sha256=attachment.sha256,
            )
        )  # fmt: skip
    return tuple(refs), tuple(left_out)


def _size(size: int) -> str:
    """A byte count as people say it: 10 MB, 64 KB."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB" if size >= 1024 else f"{size} bytes"


async def lock(
    conn: Connection, schema: str, conversation_id: UUID, tenant: UUID | None = None
) -> asyncpg.Record:
    """The conversation's row, locked; NotFound when unknown or another tenant's."""
    row = await conn.fetchrow(
        f"SELECT * FROM {schema}.conversations WHERE conversation_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2) FOR UPDATE",
        conversation_id, tenant,
    )  # fmt: skip
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return row


async def save(
    conn: Connection, schema: str, emit: Any, row: asyncpg.Record | None, after: Conversation,
    events: Sequence[Event], at: datetime, last_mail_id: UUID | None = None, topic: str = "",
) -> asyncpg.Record:  # fmt: skip
    """Append the events at the row's version and write the row after them."""
    version = row["version"] if row else 0
    if events:
        await emit(stream(after.conversation_id), version, list(events))
    saved = await conn.fetchrow(
        f"INSERT INTO {schema}.conversations AS c (conversation_id, version, client_id, topic, "
        "language, status, due_at, assigned_to, escalated, mails, last_mail_id, created_at, "
        "updated_at, awaiting_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
        "$12, $14) ON CONFLICT (conversation_id) DO UPDATE SET version = EXCLUDED.version, "
        "status = EXCLUDED.status, due_at = EXCLUDED.due_at, "
        "assigned_to = EXCLUDED.assigned_to, escalated = EXCLUDED.escalated, "
        "mails = EXCLUDED.mails, last_mail_id = coalesce($13, c.last_mail_id), "
        "updated_at = EXCLUDED.updated_at, awaiting_since = EXCLUDED.awaiting_since RETURNING *",
        after.conversation_id, version + len(events), after.client_id, topic[:500],
        after.language, after.status, after.due_at, after.assigned_to, after.escalated,
        after.mails, last_mail_id or (row["last_mail_id"] if row else None), at, last_mail_id,
        after.awaiting_since,
    )  # fmt: skip
    assert saved is not None
    return saved


def envelope(row: asyncpg.Record, at: datetime, actor: Actor = SYSTEM) -> dict[str, Any]:
    """The fields every event of this conversation carries."""
    return {
        "client_id": row["client_id"], "occurred_at": at, "actor": actor,
        "conversation_id": row["conversation_id"],
    }  # fmt: skip


async def finish(
    store: EventStore, conversation_id: UUID, how: Literal["handled", "spam"], *,
    caller: Principal, at: datetime, comment: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Nothing more to do for the conversation: handled, or spam."""
    async with store.transaction() as conn:
        row = await lock(conn, store.schema, conversation_id, caller.tenant)
        after = domain.finished(state(row), how)
        event: Event = (
            ConversationHandled(**envelope(row, at, caller.actor()), comment=comment)
            if how == "handled"
            else ConversationMarkedSpam(**envelope(row, at, caller.actor()))
        )
        emit = partial(store.append, conn=conn)
        saved = dict(await save(conn, store.schema, emit, row, after, [event], at))
    if how == "handled":
        counted_answer(state(row), "handled", at)
    return saved


def counted_answer(before: Conversation, how: str, at: datetime) -> None:
    """Count the bureau's answer to a conversation that awaited one (after the commit)."""
    if before.awaiting_answer:
        metrics.answered(
            before.client_id, how, before.language, before.awaiting_since, before.due_at, at
        )


async def assign(
    store: EventStore, conversation_id: UUID, operator_id: str, *, caller: Principal,
    at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Give the conversation to an operator: an operator takes it themself; staff give it."""
    if caller.role == "operator" and operator_id != caller.subject:
        raise Forbidden("an operator takes a conversation for themself only")
    async with store.transaction() as conn:
        row = await lock(conn, store.schema, conversation_id, caller.tenant)
        on_roster = await conn.fetchval(
            f"SELECT 1 FROM {store.schema}.roster WHERE operator_id = $1", operator_id
        )
        if not on_roster:
            raise NotFound(f"no operator {operator_id} on the roster")
        after = domain.assigned(state(row), operator_id)
        event = ConversationAssigned(**envelope(row, at, caller.actor()), operator_id=operator_id)
        emit = partial(store.append, conn=conn)
        return dict(await save(conn, store.schema, emit, row, after, [event], at))


async def assign_open(store: EventStore, at: datetime, limit: int = 200) -> int:
    """Give each open conversation nobody has to the least loaded reader of its language."""
    done = 0
    passed: list[UUID] = []
    while done + len(passed) < limit:
        async with store.transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT * FROM {store.schema}.conversations WHERE status = 'open' "
                "AND assigned_to IS NULL AND NOT (conversation_id = ANY($1::uuid[])) "
                "ORDER BY due_at, conversation_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                passed,
            )
            if row is None:
                break
            readers = await directory.readers_on_duty(conn, store.schema, row["language"])
            if not readers:
                passed.append(row["conversation_id"])
                continue
            after = domain.assigned(state(row), readers[0])
            event = ConversationAssigned(**envelope(row, at), operator_id=readers[0])
            await save(
                conn, store.schema, partial(store.append, conn=conn), row, after, [event], at
            )
            done += 1
    return done


async def undeliverable(
    conn: Connection, store: EventStore, conversation_id: UUID, *, message_id: str,
    kind: Literal["reply", "forward"], reason: str, at: datetime,
) -> None:  # fmt: skip
    """Record that an answer never left: the conversation awaits one again, due at once."""
    schema = store.schema
    row = await lock(conn, schema, conversation_id)
    after = domain.undelivered(state(row), at)
    event = AnswerUndeliverable(
        **envelope(row, at), message_id=message_id[:500], kind=kind, reason=reason[:500]
    )
    await save(conn, schema, partial(store.append, conn=conn), row, after, [event], at)


async def escalate_overdue(store: EventStore, at: datetime, limit: int = 200) -> int:
    """Escalate every conversation whose answer is overdue, once per wait."""
    done = 0
    while done < limit:
        async with store.transaction() as conn:
            row = await conn.fetchrow(
                f"SELECT * FROM {store.schema}.conversations WHERE status = 'open' "
                "AND NOT escalated AND due_at <= $1 ORDER BY due_at, conversation_id "
                "LIMIT 1 FOR UPDATE SKIP LOCKED",
                at,
            )
            if row is None:
                break
            before = state(row)
            after = Conversation(**{**before.__dict__, "escalated": True, "assigned_to": None})
            event = ConversationEscalated(
                **envelope(row, at), due_at=before.due_at, assigned_to=before.assigned_to
            )
            await save(
                conn, store.schema, partial(store.append, conn=conn), row, after, [event], at
            )
            done += 1
        metrics.ESCALATED.labels(before.language).inc()
        log.error(
            "inbox.conversation_escalated", conversation_id=str(before.conversation_id),
            client_id=str(before.client_id),
            alert="a client's mail is past its agreed answer time; the desk must answer now",
        )  # fmt: skip
    return done


async def listing(
    db: Queryable, schema: str, *, client_id: UUID | None, status: str | None,
    assigned_to: str | None, language: str | None, limit: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """The conversations, escalated and due first."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.conversations WHERE ($1::uuid IS NULL OR client_id = $1) "
        "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR assigned_to = $3) "
        "AND ($4::text IS NULL OR language = $4) "
        "ORDER BY (status <> 'open'), escalated DESC, due_at, conversation_id LIMIT $5",
        client_id, status, assigned_to, language, limit,
    )  # fmt: skip
    return [dict(row) for row in rows]


async def get(
    db: Queryable, schema: str, conversation_id: UUID, tenant: UUID | None
) -> dict[str, Any] | None:
    """One conversation (None when unknown or another tenant's)."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.conversations WHERE conversation_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        conversation_id, tenant,
    )  # fmt: skip
    return dict(row) if row else None


async def mails_of(db: Queryable, schema: str, conversation_id: UUID) -> list[dict[str, Any]]:
    """The conversation's mails in and out, oldest first (without their raw bytes)."""
    rows = await db.fetch(
        f"SELECT mail_id, message_id, direction, sender, subject, received_at "
        f"FROM {schema}.mails WHERE conversation_id = $1 ORDER BY received_at, mail_id",
        conversation_id,
    )
    return [dict(row) for row in rows]


async def mail_content(
    db: Queryable, schema: str, mail_id: UUID, tenant: UUID | None
) -> dict[str, Any] | None:
    """One mail as an operator reads it: its text, its cleaned HTML, the attachments kept and
    those left out (None when unknown or another tenant's). Read from the bytes as they came."""
    row = await db.fetchrow(
        f"SELECT mail_id, client_id, conversation_id, message_id, direction, sender, subject, "
        f"received_at, raw FROM {schema}.mails WHERE mail_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        mail_id, tenant,
    )  # fmt: skip
    if row is None:
        return None
    kept = await db.fetch(
        f"SELECT m.filename, a.content_type, a.size, a.sha256 FROM {schema}.mail_attachments m "
        f"JOIN {schema}.attachments a USING (sha256) WHERE m.mail_id = $1 ORDER BY m.filename",
        mail_id,
    )
    found: dict[str, Any] = {"text": "", "html": "", "sender_name": "", "left_out": []}
    if row["raw"] is not None:
        mail = parse(bytes(row["raw"]))
        names = {(k["sha256"], k["filename"]) for k in kept}
        left_out = [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in mail.attachments if (a.sha256, a.filename) not in names
        ]  # fmt: skip
        found = {"text": mail.text, "html": mail.html, "sender_name": mail.sender_name,
                 "left_out": left_out}  # fmt: skip
    body = {k: v for k, v in dict(row).items() if k != "raw"}
    return {**body, **found, "attachments": [dict(k) for k in kept]}


async def attachment(
    db: Queryable, schema: str, mail_id: UUID, sha256: str, tenant: UUID | None
) -> asyncpg.Record | None:
    """A kept attachment of a mail: its name, type and bytes (None when unknown or another
    tenant's)."""
    return await db.fetchrow(
        f"SELECT m.filename, a.content_type, a.data FROM {schema}.mail_attachments m "
        f"JOIN {schema}.attachments a USING (sha256) JOIN {schema}.mails x USING (mail_id) "
        "WHERE m.mail_id = $1 AND m.sha256 = $2 AND ($3::uuid IS NULL OR x.client_id = $3) "
        "ORDER BY m.filename LIMIT 1",
        mail_id, sha256, tenant,
    )  # fmt: skip
