"""Escalation chains in routing's tables: the request, its timer row and its event stream.

Every change to an escalation happens with its row locked (FOR UPDATE): the consumer that
starts it, the timer worker that moves it on and the API that acknowledges it take turns, and
the timer row moves in the same transaction as the events it causes, so a crash loses no
attempt and repeats none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

import asyncpg
import structlog

from libs.errors import NotFound
from libs.events.calls import EscalationRequested
from libs.events.catalogue import decode, encode
from libs.events.envelope import Event
from libs.events.routing import EscalationDispatched, EscalationExhausted
from libs.platform.consumer import INFRASTRUCTURE_ERRORS
from libs.platform.db import Connection
from libs.platform.faults import crash_point
from libs.platform.store import EventStore
from services.routing import directory, links, metrics
from services.routing.directory import Queryable
from services.routing.domain import (
    Acknowledge,
    Chain,
    Escalation,
    FireTimer,
    StartChain,
    chain_for,
    decide,
    fold,
    stream_id,
)
from services.routing.settings import RoutingSettings

log = structlog.get_logger(__name__)
Emit = links.Emit
"""Appends events to a stream at an expected version, in the caller's transaction."""


@dataclass(frozen=True)
class Outcome:
    """An escalation before a step, and the events the step recorded (none if nothing was due)."""

    before: Escalation
    events: list[Event]


async def open_request(
    conn: Connection, schema: str, event: EscalationRequested, now: datetime, book_wait: timedelta
) -> bool:
    """Record an escalation request with a timer due at once; False if it was known already."""
    found = await conn.fetchval(
        f"INSERT INTO {schema}.escalations (escalation_id, call_id, client_id, urgency_kind, "
        "book_version, state, due_at, book_wait_until, request, requested_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7, $8::jsonb, $9, $6) "
        "ON CONFLICT (escalation_id) DO NOTHING RETURNING escalation_id",
        event.escalation_id, event.call_id, event.client_id, event.urgency_kind,
        event.book_version, now, now + book_wait, encode(event).decode(), event.occurred_at,
    )  # fmt: skip
    return found is not None


async def advance(
    conn: Connection, schema: str, escalation_id: UUID, now: datetime, emit: Emit
) -> Outcome:
    """Start the chain or move it on if its attempt timed out; the row stays locked till commit."""
    row, state = await lock(conn, schema, escalation_id)
    chain = await _chain(conn, schema, row, state, now)
    if chain is None:  # the book version on screen has not reached routing yet
        return Outcome(state, [])
    command = StartChain if state.status == "requested" else FireTimer
    events = decide(command(at=now, chain=chain), state)
    await save(conn, schema, state, events, emit, now, chain.book_version)
    return Outcome(state, events)


async def lock(
    conn: Connection, schema: str, escalation_id: UUID
) -> tuple[asyncpg.Record, Escalation]:
    """The escalation's row, locked, and its state folded from the request and its stream."""
    row = await conn.fetchrow(
        f"SELECT * FROM {schema}.escalations WHERE escalation_id = $1 FOR UPDATE", escalation_id
    )
    if row is None:
        raise NotFound(f"no escalation {escalation_id}")
    return row, await _fold(conn, schema, row)


async def chain_of(conn: Connection, schema: str, row: asyncpg.Record, state: Escalation) -> Chain:
    """The chain an escalation follows (empty before it started or without a book)."""
    version = row["chain_book_version"]
    book = await directory.book(conn, schema, state.client_id, version) if version else None
    return chain_for(book, state.urgency_kind)


async def save(
    conn: Connection, schema: str, state: Escalation, events: Sequence[Event], emit: Emit,
    now: datetime, book_version: int | None = None,
) -> Escalation:  # fmt: skip
    """Append the events after the state's version and move the row (timer) to match."""
    after = fold(events, state)
    assert after is not None
    if not events:
        return after
    await emit(stream_id(state.escalation_id), state.version, events)
    await conn.execute(
        f"UPDATE {schema}.escalations SET state = $2, attempts = $3, due_at = $4, "
        "chain_book_version = coalesce(chain_book_version, $5), acknowledged_by = $6, "
        "closed_at = $7, updated_at = $8 WHERE escalation_id = $1",
        after.escalation_id, after.status, len(after.dispatches), after.due_at, book_version,
        after.acknowledged_by, after.closed_at, now,
    )  # fmt: skip
    return after


async def acknowledge(store: EventStore, escalation_id: UUID, command: Acknowledge) -> Escalation:
    """Stop the chain; without a name, the contact of the acknowledged attempt is named."""
    async with store.transaction() as conn:
        row, state = await lock(conn, store.schema, escalation_id)
        if not command.by:
            command = replace(
                command, by=await _contact_name(conn, store.schema, row, state, command)
            )
        events = decide(command, state)
        emit = partial(store.append, conn=conn)
        after = await save(conn, store.schema, state, events, emit, command.at)
    recorded(Outcome(state, events))
    return after


async def _contact_name(
    conn: Connection, schema: str, row: asyncpg.Record, state: Escalation, command: Acknowledge
) -> str:
    steps = (await chain_of(conn, schema, row, state)).steps
    attempt = command.attempt or 0
    return steps[attempt - 1].contact_name if 0 < attempt <= len(steps) else "escalation link"


async def fire_due(store: EventStore, now: datetime, *, limit: int, config: RoutingSettings) -> int:
    """Move on every escalation whose timer is due at `now`, one transaction each."""
    passed: list[UUID] = []
    fired = 0
    while fired + len(passed) < limit:
        found = await _fire_one(store, now, passed, config)
        if found is None:
            break
        escalation_id, outcome = found
        if outcome is not None and outcome.events:
            fired += 1
            recorded(outcome)
        else:  # still waiting for its book, or failing: the others must not wait behind it
            passed.append(escalation_id)
    return fired


async def _fire_one(
    store: EventStore, now: datetime, passed: list[UUID], config: RoutingSettings
) -> tuple[UUID, Outcome | None] | None:
    """The next due timer and what firing it recorded (None: it failed and was rolled back)."""
    found: UUID | None = None
    try:
        async with store.transaction() as conn:
            found = await conn.fetchval(
                f"SELECT escalation_id FROM {store.schema}.escalations "
                "WHERE state IN ('requested', 'dispatched') AND due_at <= $1 "
                "AND NOT (escalation_id = ANY($2::uuid[])) "
                "ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                now,
                passed,
            )
            if found is None:
                return None
            emit = links.stamping(config, partial(store.append, conn=conn))
            outcome = await advance(conn, store.schema, found, now, emit)
            if outcome.events:
                crash_point("routing.timer.before_commit")
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception as exc:  # one broken escalation must not hold up every other timer
        if found is None:
            raise
        log.exception("escalation.timer_failed", escalation_id=str(found), error=repr(exc))
        return found, None
    return found, outcome


def recorded(outcome: Outcome) -> None:
    """Metrics and log lines for a step once it is recorded; an exhausted chain alerts."""
    metrics.observe(outcome.events, outcome.before)
    state = outcome.before
    ids = {"escalation_id": str(state.escalation_id), "call_id": str(state.call_id)}
    for event in outcome.events:
        if isinstance(event, EscalationDispatched):
            log.info("escalation.dispatched", **ids, attempt=event.attempt, channel=event.channel)
        elif isinstance(event, EscalationExhausted):
            log.error(
                "escalation.exhausted",
                **ids,
                client_id=str(state.client_id),
                attempts=event.attempts,
                alert="nobody in the chain acknowledged; the bureau must step in",
            )


async def load(db: Queryable, schema: str, escalation_id: UUID) -> Escalation | None:
    """An escalation's current state (unlocked, for reading), or None."""
    row = await db.fetchrow(
        f"SELECT request FROM {schema}.escalations WHERE escalation_id = $1", escalation_id
    )
    return await _fold(db, schema, row) if row is not None else None


async def ids_for_call(db: Queryable, schema: str, call_id: UUID) -> list[UUID]:
    """The escalations of a call, oldest first."""
    rows = await db.fetch(
        f"SELECT escalation_id FROM {schema}.escalations WHERE call_id = $1 "
        "ORDER BY requested_at, escalation_id",
        call_id,
    )
    return [row["escalation_id"] for row in rows]


async def _chain(
    conn: Connection, schema: str, row: asyncpg.Record, state: Escalation, now: datetime
) -> Chain | None:
    """The chain to follow; None while the book version on screen is still on its way."""
    if state.status != "requested":
        return await chain_of(conn, schema, row, state)
    book = await directory.book(conn, schema, state.client_id, state.book_version)
    if book is None and state.book_version is not None:
        if now < row["book_wait_until"]:
            return None
        log.warning("escalation.book_missing", book_version=state.book_version)
        book = await directory.book(conn, schema, state.client_id)
    return chain_for(book, state.urgency_kind)


async def _fold(db: Queryable, schema: str, row: asyncpg.Record) -> Escalation:
    request = decode(row["request"])
    stream = await db.fetch(
        f"SELECT payload FROM {schema}.events WHERE stream_id = $1 ORDER BY stream_version",
        stream_id(request.escalation_id) if isinstance(request, EscalationRequested) else "",
    )
    state = fold([request, *(decode(r["payload"]) for r in stream)])
    assert state is not None
    return state
