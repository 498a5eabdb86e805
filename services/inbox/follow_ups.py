"""The seed's rule in the inbox: "some callers say they will send an e-mail; when we together
notice that this indeed happens, the call is not charged."

The inbox follows the calls topic for notes whose follow-up is "the caller will e-mail" and
keeps each as an announced mail (`announced_mails`): who the caller is (the number, and the
address the operator wrote in the follow-up detail) and when they said it. When such a
caller's mail is kept, or was kept already before the note arrived (the topics run apart),
the call is proposed as not billable: AnnouncedMailFound, on the call's own stream at version
0, so there is one proposal per call however often either side is delivered. Calls keeps the
proposal; an operator or the client confirms it there, which records the mark with the mail
as its evidence (services/calls/follow_ups.py).

A later note for the call supersedes the earlier one: one without that follow-up withdraws
the announcement (unless its mail was found already). Matching the note and keeping a mail
take the same per-client lock as keeping a mail does, so neither can miss the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import structlog

from libs.events.calls import NoteRecorded
from libs.events.catalogue import topic_for
from libs.events.envelope import Event
from libs.events.inbox import AnnouncedMailFound
from libs.platform.consumer import HandlerContext, Subscription, typed
from libs.platform.db import Connection
from libs.platform.settings import Settings
from services.inbox import metrics
from services.inbox.domain.evidence import WINDOW, Expected, Match, address_in, matches
from services.inbox.domain.mail import Mail, UnreadableMail, parse

log = structlog.get_logger(__name__)
FOLLOW_UP = "caller_will_email"
Append = Callable[[str, int | None, Sequence[Event]], Awaitable[Any]]
"""Appends events to a stream at an expected version, in the caller's transaction."""


def stream_id(call_id: UUID) -> str:
    """The stream of a call's announced mail (one AnnouncedMailFound at most)."""
    return f"announced-mail-{call_id}"


async def client_lock(conn: Connection, client_id: UUID) -> None:
    """The lock keeping a client's mail and its announced mails one at a time."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"inbox:{client_id}")


async def note_recorded(event: NoteRecorded, ctx: HandlerContext) -> None:
    """Keep or withdraw the call's announced mail; look for it among the mails kept already."""
    conn, schema = ctx.conn, ctx.store.schema
    await client_lock(conn, event.client_id)
    if event.follow_up != FOLLOW_UP:
        await conn.execute(
            f"DELETE FROM {schema}.announced_mails WHERE call_id = $1 AND found_mail_id IS NULL "
            "AND noted_at <= $2",
            event.call_id, event.occurred_at,
        )  # fmt: skip
        return
    expected = Expected(
        call_id=event.call_id,
        client_id=event.client_id,
        noted_at=event.occurred_at,
        caller_number=event.caller_number,
        caller_email=address_in(event.follow_up_detail),
    )
    kept = await conn.fetchval(
        f"INSERT INTO {schema}.announced_mails AS a (call_id, client_id, noted_at, caller_number, "
        "caller_email, updated_at) VALUES ($1, $2, $3, $4, $5, $3) ON CONFLICT (call_id) DO "
        "UPDATE SET noted_at = EXCLUDED.noted_at, caller_number = EXCLUDED.caller_number, "
        "caller_email = EXCLUDED.caller_email, updated_at = EXCLUDED.updated_at "
        "WHERE a.found_mail_id IS NULL AND a.noted_at <= EXCLUDED.noted_at RETURNING true",
        expected.call_id, expected.client_id, expected.noted_at, expected.caller_number,
        expected.caller_email,
    )  # fmt: skip
    if not kept:
        return
    rows = await conn.fetch(
        f"SELECT mail_id, conversation_id, received_at, raw FROM {schema}.mails "
        "WHERE client_id = $1 AND direction = 'in' AND received_at >= $2 AND received_at <= $3 "
        "AND raw IS NOT NULL ORDER BY received_at, mail_id",
        event.client_id, expected.noted_at, expected.noted_at + WINDOW,
    )  # fmt: skip
    for row in rows:
        try:
            mail = parse(bytes(row["raw"]))
        except UnreadableMail:
            continue
        found = matches(mail, event.client_id, row["received_at"], [expected])
        if found:
            await _propose(
                conn, schema, ctx.emit, found[0], event.client_id, mail, row["mail_id"],
                row["conversation_id"], row["received_at"], ctx.now(),
            )  # fmt: skip
            ctx.after_commit(partial(counted, found[0]))
            return


async def look_for_calls(
    conn: Connection, schema: str, emit: Append, client_id: UUID, mail: Mail, mail_id: UUID,
    conversation_id: UUID, received_at: datetime,
) -> Match | None:  # fmt: skip
    """A mail was kept (under the client's lock): is it a caller's announced mail? Count the
    match returned once the transaction committed (`counted`).

    A mail is the evidence of one call: the latest the caller announced it on.
    """
    rows = await conn.fetch(
        f"SELECT * FROM {schema}.announced_mails WHERE client_id = $1 AND found_mail_id IS NULL "
        "AND noted_at >= $2 AND noted_at <= $3",
        client_id, received_at - WINDOW, received_at,
    )  # fmt: skip
    expected = [
        Expected(
            call_id=row["call_id"],
            client_id=row["client_id"],
            noted_at=row["noted_at"],
            caller_number=row["caller_number"],
            caller_email=row["caller_email"],
        )
        for row in rows
    ]
    found = matches(mail, client_id, received_at, expected)
    if not found:
        return None
    await _propose(
        conn, schema, emit, found[0], client_id, mail, mail_id, conversation_id, received_at,
        received_at,
    )  # fmt: skip
    return found[0]


def counted(match: Match | None) -> None:
    """Count an announced mail found (after the transaction that recorded it committed)."""
    if match is not None:
        metrics.ANNOUNCED_FOUND.labels(match.by).inc()


async def _propose(
    conn: Connection, schema: str, emit: Append, match: Match, client_id: UUID, mail: Mail,
    mail_id: UUID, conversation_id: UUID, received_at: datetime, at: datetime,
) -> None:  # fmt: skip
    event = AnnouncedMailFound(
        client_id=client_id, occurred_at=at, call_id=match.call_id,
        conversation_id=conversation_id, mail_id=mail_id, message_id=mail.message_id[:500],
        sender=mail.sender, subject=mail.subject[:500], received_at=received_at,
        matched_by=match.by,
    )  # fmt: skip
    await emit(stream_id(match.call_id), 0, [event])
    await conn.execute(
        f"UPDATE {schema}.announced_mails SET found_mail_id = $2, found_at = $3, updated_at = $3 "
        "WHERE call_id = $1",
        match.call_id, mail_id, at,
    )  # fmt: skip
    log.info(
        "inbox.announced_mail_found", call_id=str(match.call_id), mail_id=str(mail_id),
        by=match.by,
    )  # fmt: skip


def subscription(settings: Settings) -> Subscription:
    """The inbox's consumer of the calls topic: the notes that announce a caller's mail."""
    return Subscription(
        name=f"{settings.topic_prefix}-inbox-calls",
        topics=(topic_for("calls", settings.topic_prefix),),
        handlers={"NoteRecorded": typed(NoteRecorded, note_recorded)},
    )
