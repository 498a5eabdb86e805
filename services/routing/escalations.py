"""Escalation chains in routing's tables: the request, its timer row and its event stream.

The request is the event that opened the escalation: an urgent call's EscalationRequested,
or an overdue mail's ConversationEscalated (`call_id` or `conversation_id` is set).

Every change to an escalation happens with its row locked (FOR UPDATE): the consumer that
starts it, the timer worker that moves it on and the API that acknowledges it take turns, and
the timer row moves in the same transaction as the events it causes, so a crash loses no
attempt and repeats none.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from libs.errors import NotFound
from libs.events.calls import EscalationRequested
from libs.events.catalogue import decode, encode
from libs.events.envelope import Event
from libs.events.inbox import ConversationEscalated
from libs.platform.db import Connection
from services.routing import directory, feed, links
from services.routing.directory import Queryable
from services.routing.domain.chain import Chain, book_to_follow, book_wait_until
from services.routing.domain.escalation import (
    OPEN,
    Escalation,
    Opener,
    chain_to_run,
    fold,
    opened,
    stream_id,
)

log = structlog.get_logger(__name__)
Emit = links.Emit
"""Appends events to a stream at an expected version, in the caller's transaction."""


async def open_request(
    conn: Connection, schema: str, event: EscalationRequested, now: datetime, book_wait: timedelta
) -> bool:
    """Record an escalation request with a timer due at once; False if it was known already."""
    return await _open(conn, schema, event, now, book_wait_until(now, book_wait))


async def open_overdue_mail(
    conn: Connection, schema: str, event: ConversationEscalated, now: datetime
) -> UUID | None:
    """Record an overdue mail's escalation with a timer due at once; its id, or None if that
    wait of the conversation was escalated already (it follows the latest book: no waiting)."""
    escalation_id = opened(event).escalation_id
    return escalation_id if await _open(conn, schema, event, now, now) else None


async def _open(
    conn: Connection, schema: str, event: Opener, now: datetime, wait_until: datetime
) -> bool:
    state = opened(event)
    found = await conn.fetchval(
        f"INSERT INTO {schema}.escalations (escalation_id, call_id, conversation_id, client_id, "
        "urgency_kind, book_version, state, due_at, book_wait_until, request, requested_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9::jsonb, $10, $7) "
        "ON CONFLICT (escalation_id) DO NOTHING RETURNING escalation_id",
        state.escalation_id, state.call_id, state.conversation_id, state.client_id,
        state.urgency_kind, state.book_version, now, wait_until, encode(event).decode(),
        state.requested_at,
    )  # fmt: skip
    return found is not None


async def lock(
    conn: Connection, schema: str, escalation_id: UUID, client_id: UUID | None = None
) -> tuple[asyncpg.Record, Escalation]:
    """The escalation's row, locked, and its state folded from the request and its stream.

    With `client_id` (a tenant-bound caller), another client's escalation is not found.
    """
    row = await conn.fetchrow(
        f"SELECT * FROM {schema}.escalations WHERE escalation_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2) FOR UPDATE",
        escalation_id,
        client_id,
    )
    if row is None:
        raise NotFound(f"no escalation {escalation_id}")
    return row, await _fold(conn, schema, row)


async def chain_of(conn: Connection, schema: str, row: asyncpg.Record, state: Escalation) -> Chain:
    """The chain an escalation follows (empty before it started or without a book)."""
    version = row["chain_book_version"]
    book = await directory.book(conn, schema, state.client_id, version) if version else None
    return chain_to_run(book, state)


async def chain_to_follow(
    conn: Connection, schema: str, row: asyncpg.Record, state: Escalation, now: datetime
) -> Chain | None:
    """The chain to follow; None while the book version on screen is still on its way."""
    if state.status != "requested":
        return await chain_of(conn, schema, row, state)
    version = state.book_version
    on_screen = await directory.book(conn, schema, state.client_id, version) if version else None
    latest = None if on_screen else await directory.book(conn, schema, state.client_id)
    choice = book_to_follow(version, on_screen, latest, now=now, wait_until=row["book_wait_until"])
    if choice.waiting:
        return None
    if choice.fell_back:
        log.warning("escalation.book_missing", book_version=version)
    return chain_to_run(choice.book, state)


async def save(
    conn: Connection, schema: str, state: Escalation, events: Sequence[Event], emit: Emit,
    now: datetime, book_version: int | None = None,
) -> Escalation:  # fmt: skip
    """Append the events after the state's version and move the row (timer) to match; the
    operators' feed gets its items in the same transaction."""
    after = fold(events, state)
    assert after is not None
    if not events:
        return after
    await emit(stream_id(state.escalation_id), state.version, events)
    await feed.project(conn, schema, events)
    await conn.execute(
        f"UPDATE {schema}.escalations SET state = $2, attempts = $3, due_at = $4, "
        "chain_book_version = coalesce(chain_book_version, $5), acknowledged_by = $6, "
        "closed_at = $7, updated_at = $8 WHERE escalation_id = $1",
        after.escalation_id, after.status, len(after.dispatches), after.due_at, book_version,
        after.acknowledged_by, after.closed_at, now,
    )  # fmt: skip
    return after


async def next_due(conn: Connection, schema: str, now: datetime, passed: list[UUID]) -> UUID | None:
    """The open escalation whose timer is due soonest at `now` (not one of `passed`), locked."""
    found: UUID | None = await conn.fetchval(
        f"SELECT escalation_id FROM {schema}.escalations "
        "WHERE state IN ('requested', 'dispatched') AND due_at <= $1 "
        "AND NOT (escalation_id = ANY($2::uuid[])) "
        "ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
        passed,
    )
    return found


async def load(
    db: Queryable, schema: str, escalation_id: UUID, client_id: UUID | None = None
) -> Escalation | None:
    """An escalation's current state (unlocked, for reading), or None.

    With `client_id` (a tenant-bound reader), another client's escalation is None as well.
    """
    row = await db.fetchrow(
        f"SELECT escalation_id, request FROM {schema}.escalations WHERE escalation_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        escalation_id,
        client_id,
    )
    return await _fold(db, schema, row) if row is not None else None


async def ids_for_call(
    db: Queryable, schema: str, call_id: UUID, client_id: UUID | None = None
) -> list[UUID]:
    """The escalations of a call, oldest first (with `client_id`: only if the call is its)."""
    rows = await db.fetch(
        f"SELECT escalation_id FROM {schema}.escalations WHERE call_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2) ORDER BY requested_at, escalation_id",
        call_id,
        client_id,
    )
    return [row["escalation_id"] for row in rows]


async def open_for_conversation(
    conn: Connection, schema: str, client_id: UUID, conversation_id: UUID
) -> list[UUID]:
    """The escalations of a conversation whose chain still runs (domain OPEN), oldest first."""
    rows = await conn.fetch(
        f"SELECT escalation_id FROM {schema}.escalations WHERE conversation_id = $1 "
        "AND client_id = $2 AND state = ANY($3::text[]) ORDER BY requested_at, escalation_id",
        conversation_id, client_id, list(OPEN),
    )  # fmt: skip
    return [row["escalation_id"] for row in rows]


async def history(db: Queryable, schema: str, stream: str) -> list[Event]:
    """Every event of one of routing's streams, in order, read in the caller's transaction."""
    rows = await db.fetch(
        f"SELECT payload FROM {schema}.events WHERE stream_id = $1 ORDER BY stream_version",
        stream,
    )
    return [decode(row["payload"]) for row in rows]


async def _fold(db: Queryable, schema: str, row: asyncpg.Record) -> Escalation:
    request = decode(row["request"])
    if not isinstance(request, EscalationRequested | ConversationEscalated):
        raise ValueError(f"an escalation cannot start with {request.type}")
    escalation_id = row["escalation_id"]
    state = fold([request, *await history(db, schema, stream_id(escalation_id))])
    assert state is not None
    return state
