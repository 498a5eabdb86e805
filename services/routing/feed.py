"""The operators' feed in routing's tables: items written with the facts that cause them.

Items are written in the transaction that records their cause: a consumer's inbox
transaction for the calendar's and the inbox's events, the append of routing's own events
(CallRouted, the escalation steps) for those. So a redelivered message adds nothing (and an
item is unique per event besides), and a crash loses none. The numbering (`seq`, in commit
order) and the wake-up of the open feeds are done at commit by the table's trigger (see
migrations.py). `feed_callbacks` and `feed_conversations` keep what the items need that the
assigning events do not carry: language, due time, who has it.

Items are kept for FRONTDESK_ROUTING_FEED_RETENTION_HOURS: a loop in every routing process
prunes older ones, oldest first, a batch per short transaction, one replica at a time (an
advisory lock the others skip), recording in `feed_pruned` the highest seq removed. A read of
the feed sees that mark with its items in one snapshot, so a client behind it is told, never
silently skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from libs.events.calendar import CallbackAssigned, CallbackEscalated, CallbackScheduled
from libs.events.envelope import Event
from libs.events.inbox import (
    ConversationAssigned,
    ConversationEscalated,
    ConversationOpened,
    MailReceived,
)
from libs.events.routing import CallRouted
from libs.platform.consumer import Handler, HandlerContext, typed
from libs.platform.db import Connection, advisory_key
from libs.platform.runtime import ServiceRuntime, Worker
from libs.platform.store import EventStore
from libs.platform.ticker import tick_until_stopped
from services.routing.directory import Queryable
from services.routing.domain import feed
from services.routing.domain.feed import EscalationFact, FeedItem, Subject
from services.routing.settings import RoutingSettings

log = structlog.get_logger(__name__)

ITEMS_OF_OPERATOR = """
    SELECT f.seq, f.kind, f.data FROM {schema}.feed_items f, {schema}.operators o
    WHERE o.operator_id = $1 AND f.seq > $2
      AND (f.operator_id = $1
           OR (f.operator_id IS NULL AND (f.language IS NULL OR f.language = ANY(o.languages))))
    ORDER BY f.seq LIMIT $3
"""
"""An operator's items after a seq: the index of domain.feed.reaches, with their languages
read from the roster at each read."""
READ = (
    "SELECT p.through_seq AS pruned, i.seq, i.kind, i.data "
    "FROM (SELECT coalesce(max(through_seq), 0) AS through_seq FROM {schema}.feed_pruned) p "
    f"LEFT JOIN LATERAL ({ITEMS_OF_OPERATOR}) i ON true ORDER BY i.seq"
)
"""The operator's items and the pruning mark, in one snapshot (no item: one row of NULLs)."""
BOUNDS = """
    SELECT greatest((SELECT coalesce(max(seq), 0) FROM {schema}.feed_items), through_seq) AS head,
           through_seq AS pruned
    FROM {schema}.feed_pruned
"""
PRUNE_OLDEST = """
    WITH oldest AS (
        SELECT item_id, seq, occurred_at FROM {schema}.feed_items
        WHERE seq IS NOT NULL ORDER BY seq LIMIT $2
    ), first_kept AS (
        SELECT min(seq) AS seq FROM oldest WHERE occurred_at >= $1
    )
    DELETE FROM {schema}.feed_items f USING oldest o, first_kept k
    WHERE f.item_id = o.item_id AND (k.seq IS NULL OR o.seq < k.seq)
    RETURNING f.seq
"""
"""The oldest items that occurred before $1, up to the first younger one: domain.feed.kept_since
(a prefix in seq order, so every item up to the recorded mark is gone)."""


def channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel the feed's trigger wakes the open feeds on."""
    return f"{schema}_feed"


async def write(conn: Connection, schema: str, item: FeedItem | None) -> None:
    """Add an item (once per event, however often its cause is handled)."""
    if item is None:
        return
    await conn.execute(
        f"INSERT INTO {schema}.feed_items (event_id, kind, operator_id, language, client_id, "
        "data, occurred_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) "
        "ON CONFLICT (event_id) DO NOTHING",
        item.event_id, item.kind, item.audience.operator_id, item.audience.language,
        item.client_id, json.dumps(item.data), item.occurred_at,
    )  # fmt: skip


async def project(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """The items of routing's own events, in the transaction that appends them."""
    for event in events:
        if isinstance(event, CallRouted):
            await write(conn, schema, feed.routed(event))
        elif isinstance(event, EscalationFact):
            await write(
                conn, schema, feed.escalation(event, await _handled_by(conn, schema, event))
            )


async def _handled_by(conn: Connection, schema: str, event: EscalationFact) -> Subject:
    """Who had what the escalation is about: the call's operator, or the mail's."""
    if event.call_id is not None:
        row = await conn.fetchrow(
            f"SELECT language, operator_id FROM {schema}.call_routes WHERE call_id = $1",
            event.call_id,
        )
    else:
        row = await conn.fetchrow(
            f"SELECT language, operator_id FROM {schema}.feed_conversations "
            "WHERE conversation_id = $1",
            event.conversation_id,
        )
    return Subject(row["language"], None, row["operator_id"]) if row else Subject()


# The calendar's callbacks ------------------------------------------------------------------


async def callback_scheduled(event: CallbackScheduled, ctx: HandlerContext) -> None:
    """Keep the callback's language and due time for the items that follow."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.feed_callbacks (callback_id, client_id, language, due_at) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (callback_id) DO UPDATE "
        "SET language = EXCLUDED.language, due_at = EXCLUDED.due_at",
        event.callback_id, event.client_id, event.language, event.due_at,
    )  # fmt: skip


async def callback_assigned(event: CallbackAssigned, ctx: HandlerContext) -> None:
    """The callback is the operator's: an item for them."""
    conn, schema = ctx.conn, ctx.store.schema
    await conn.execute(
        f"INSERT INTO {schema}.feed_callbacks (callback_id, client_id, operator_id) "
        "VALUES ($1, $2, $3) ON CONFLICT (callback_id) DO UPDATE "
        "SET operator_id = EXCLUDED.operator_id",
        event.callback_id, event.client_id, event.operator_id,
    )  # fmt: skip
    callback = await _subject(conn, schema, "feed_callbacks", "callback_id", event.callback_id)
    await write(conn, schema, feed.callback_assigned(event, callback))


async def callback_escalated(event: CallbackEscalated, ctx: HandlerContext) -> None:
    """The callback is overdue: an item for every operator who speaks its language."""
    conn, schema = ctx.conn, ctx.store.schema
    callback = await _subject(conn, schema, "feed_callbacks", "callback_id", event.callback_id)
    callback = await _with_language(conn, schema, callback, event.client_id)
    await write(conn, schema, feed.callback_escalated(event, callback))


# The inbox's conversations -----------------------------------------------------------------


async def conversation_opened(event: ConversationOpened, ctx: HandlerContext) -> None:
    """Keep the conversation's language."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.feed_conversations (conversation_id, client_id, "
        "language) VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE "
        "SET language = EXCLUDED.language",
        event.conversation_id, event.client_id, event.language,
    )  # fmt: skip


async def mail_received(event: MailReceived, ctx: HandlerContext) -> None:
    """Keep when the conversation's answer is due (its latest mail says)."""
    await ctx.conn.execute(
        f"INSERT INTO {ctx.store.schema}.feed_conversations (conversation_id, client_id, "
        "due_at) VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE "
        "SET due_at = EXCLUDED.due_at",
        event.conversation_id, event.client_id, event.due_at,
    )  # fmt: skip


async def conversation_assigned(event: ConversationAssigned, ctx: HandlerContext) -> None:
    """The conversation is the operator's: an item for them, with the due time."""
    conn, schema = ctx.conn, ctx.store.schema
    await conn.execute(
        f"INSERT INTO {schema}.feed_conversations (conversation_id, client_id, operator_id) "
        "VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE "
        "SET operator_id = EXCLUDED.operator_id",
        event.conversation_id, event.client_id, event.operator_id,
    )  # fmt: skip
    conversation = await _conversation(conn, schema, event.conversation_id)
    await write(conn, schema, feed.conversation_assigned(event, conversation))


async def conversation_escalated(event: ConversationEscalated, ctx: HandlerContext) -> None:
    """The answer is overdue: an item for every operator who reads its language."""
    conn, schema = ctx.conn, ctx.store.schema
    conversation = await _conversation(conn, schema, event.conversation_id)
    conversation = await _with_language(conn, schema, conversation, event.client_id)
    await write(conn, schema, feed.conversation_escalated(event, conversation))


async def _conversation(conn: Connection, schema: str, conversation_id: UUID) -> Subject:
    table, key = "feed_conversations", "conversation_id"
    return await _subject(conn, schema, table, key, conversation_id)


async def _subject(conn: Connection, schema: str, table: str, key: str, value: UUID) -> Subject:
    row = await conn.fetchrow(
        f"SELECT language, due_at, operator_id FROM {schema}.{table} WHERE {key} = $1", value
    )
    return Subject(row["language"], row["due_at"], row["operator_id"]) if row else Subject()


async def _with_language(
    conn: Connection, schema: str, subject: Subject, client_id: UUID
) -> Subject:
    """A subject whose language routing missed takes its client's (unknown client: none, so
    the item goes to everyone rather than to nobody)."""
    if subject.language is not None:
        return subject
    language = await conn.fetchval(
        f"SELECT language FROM {schema}.directory_clients WHERE client_id = $1", client_id
    )
    return Subject(language, subject.due_at, subject.operator_id)


CALENDAR_HANDLERS: dict[str, Handler] = {
    "CallbackScheduled": typed(CallbackScheduled, callback_scheduled),
    "CallbackAssigned": typed(CallbackAssigned, callback_assigned),
    "CallbackEscalated": typed(CallbackEscalated, callback_escalated),
}
"""The calendar events the feed keeps, by type."""
INBOX_HANDLERS: dict[str, Handler] = {
    "ConversationOpened": typed(ConversationOpened, conversation_opened),
    "MailReceived": typed(MailReceived, mail_received),
    "ConversationAssigned": typed(ConversationAssigned, conversation_assigned),
}
"""The inbox events the feed keeps besides ConversationEscalated (reactions.py calls
`conversation_escalated` from the escalation's own handler)."""


# Reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """The newest item's seq (0 before the first) and the highest pruned one (0: none)."""

    head: int
    pruned_through: int


@dataclass(frozen=True)
class Batch:
    """Items of one read, with the pruning mark as that read saw it."""

    items: list[dict[str, Any]]
    pruned_through: int


async def bounds(db: Queryable, schema: str) -> Bounds:
    """Where the feed starts and ends: what a resume id is checked against."""
    row = await db.fetchrow(BOUNDS.format(schema=schema))
    return Bounds(int(row["head"]), int(row["pruned"])) if row else Bounds(0, 0)


async def head(db: Queryable, schema: str) -> int:
    """The seq of the newest item (0 before the first; the pruning mark once all are pruned)."""
    return (await bounds(db, schema)).head


async def read(db: Queryable, schema: str, operator_id: str, after: int, limit: int) -> Batch:
    """The operator's items after `after`, oldest first, at most `limit`, and the mark."""
    rows: list[asyncpg.Record] = await db.fetch(
        READ.format(schema=schema), operator_id, after, limit
    )
    pruned = int(rows[0]["pruned"]) if rows else 0
    found = [
        {"seq": r["seq"], "kind": r["kind"], "data": _json(r["data"])}
        for r in rows
        if r["seq"] is not None
    ]
    return Batch(found, pruned)


async def items_after(
    db: Queryable, schema: str, operator_id: str, after: int, limit: int
) -> list[dict[str, Any]]:
    """The operator's items after `after`, oldest first, at most `limit`."""
    return (await read(db, schema, operator_id, after, limit)).items


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# Retention ---------------------------------------------------------------------------------


async def prune(store: EventStore, now: datetime, retention: timedelta, *, batch: int) -> int:
    """Remove the items older than the retention, `batch` per transaction; how many went.

    Stops when a batch comes back short, or when another replica holds the pruning lock.
    """
    removed = 0
    while True:
        count = await _prune_batch(store, now, feed.kept_since(now, retention), batch)
        removed += count
        if count < batch:
            return removed


async def _prune_batch(store: EventStore, now: datetime, before: datetime, batch: int) -> int:
    async with store.transaction() as conn:
        lock = advisory_key(store.schema, "feed-prune")
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock):
            return 0  # another replica is pruning this round
        rows = await conn.fetch(PRUNE_OLDEST.format(schema=store.schema), before, batch)
        if rows:
            await conn.execute(
                f"UPDATE {store.schema}.feed_pruned "
                "SET through_seq = greatest(through_seq, $1), pruned_at = $2",
                max(r["seq"] for r in rows), now,
            )  # fmt: skip
        return len(rows)


def prune_worker(config: RoutingSettings) -> Worker:
    """A worker that prunes the feed at start and then every `feed_prune_seconds`."""

    async def run(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        async def tick(now: datetime) -> None:
            if runtime.store is not None:
                batch = config.feed_prune_batch_size
                removed = await prune(runtime.store, now, config.feed_retention, batch=batch)
                if removed:
                    before = feed.kept_since(now, config.feed_retention)
                    log.info("feed.pruned", items=removed, before=before.isoformat())

        every = config.feed_prune_seconds
        await tick_until_stopped(runtime.clock, tick, stop, every=every, name="feed-prune")

    return run
