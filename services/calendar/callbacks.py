"""The callback list in the calendar service's table, and the events of each callback.

Every change to a callback happens with its row locked: the consumer that schedules it, the
timer that assigns and escalates it, and the operator who marks it done or failed take turns,
and the row moves in the same transaction as the callback's events (stream
`callback-<id>`, the row's version), so a crash loses no step and repeats none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg
import structlog

from libs.errors import Forbidden, NotFound, Rejected
from libs.events.calendar import (
    CallbackAssigned,
    CallbackDone,
    CallbackEscalated,
    CallbackFailed,
    CallbackScheduled,
    CallbackSource,
)
from libs.events.envelope import SYSTEM, Actor, Event
from libs.platform.auth import Principal
from libs.platform.commands import retrying
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.calendar import directory, metrics
from services.calendar.directory import Queryable
from services.calendar.domain import callbacks as domain
from services.calendar.domain.callbacks import Callback

log = structlog.get_logger(__name__)


def stream(callback_id: UUID) -> str:
    """The stream of one callback's events."""
    return f"callback-{callback_id}"


def callback_id_for(call_id: UUID) -> UUID:
    """A call has at most one callback; its id follows from the call's (a redelivery finds it)."""
    return uuid5(NAMESPACE_URL, f"frontdesk:callback:{call_id}")


def state(row: asyncpg.Record) -> Callback:
    """The callback a row holds."""
    return Callback(
        callback_id=row["callback_id"],
        client_id=row["client_id"],
        call_id=row["call_id"],
        source=row["source"],
        language=row["language"],
        caller_number=row["caller_number"],
        caller_name=row["caller_name"],
        due_at=row["due_at"],
        status=row["status"],
        assigned_to=row["assigned_to"],
        reason=row["reason"],
        escalated=row["escalated"],
    )


async def schedule(
    conn: Connection,
    schema: str,
    emit: Emit,
    *,
    call_id: UUID,
    client_id: UUID,
    source: CallbackSource,
    caller_number: str | None,
    caller_name: str,
    detail: str,
    asked_at: datetime,
    causation: Event,
) -> CallbackScheduled | None:
    """Put the call's caller on the list (once per call); None if it is there already or if
    it cannot be (no number, unknown or departed client)."""
    callback_id = callback_id_for(call_id)
    exists = await conn.fetchval(f"SELECT 1 FROM {schema}.callbacks WHERE call_id = $1", call_id)
    if exists:
        return None
    facts = await directory.client_facts(conn, schema, client_id)
    call = await directory.call_facts(conn, schema, call_id)
    number = caller_number or (call["caller_number"] if call else None)
    if facts is None or facts.offboarded or number is None:
        log.warning(
            "callback.not_scheduled",
            call_id=str(call_id),
            reason="unknown client"
            if facts is None
            else "client left"
            if facts.offboarded
            else "no caller number",
        )
        return None
    language = (call["caller_language"] if call else None) or facts.language
    try:
        callback = domain.schedule(
            callback_id, client_id=client_id, call_id=call_id, source=source,
            language=language, caller_number=number, caller_name=caller_name,
            hours=facts.office_hours, asked_at=asked_at,
        )  # fmt: skip
    except Rejected as exc:  # an office that never opens: nobody could ever call back
        log.warning("callback.not_scheduled", call_id=str(call_id), reason=str(exc))
        return None
    event = CallbackScheduled(
        client_id=client_id, occurred_at=asked_at, callback_id=callback_id, call_id=call_id,
        causation_id=causation.event_id, correlation_id=causation.correlation_id,
        actor=causation.actor, source=source, language=language, caller_number=number,
        caller_name=caller_name[:500], detail=detail[:5000], due_at=callback.due_at,
    )  # fmt: skip
    await emit(stream(callback_id), 0, [event])
    await conn.execute(
        f"INSERT INTO {schema}.callbacks (callback_id, version, client_id, call_id, source, "
        "language, caller_number, caller_name, detail, due_at, status, created_at, updated_at) "
        "VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $10)",
        callback_id, client_id, call_id, source, language, number, event.caller_name,
        event.detail, callback.due_at, asked_at,
    )  # fmt: skip
    await mark_block_dirty(conn, schema, client_id)
    return event


async def mark_block_dirty(conn: Connection, schema: str, client_id: UUID) -> None:
    """The client's callback block must be written again."""
    await conn.execute(
        f"UPDATE {schema}.links SET block_dirty = true, block_changes = block_changes + 1 "
        "WHERE client_id = $1",
        client_id,
    )


async def lock(
    conn: Connection, schema: str, callback_id: UUID, tenant: UUID | None = None
) -> asyncpg.Record:
    """The callback's row, locked; NotFound when there is none (or it is another tenant's)."""
    row = await conn.fetchrow(
        f"SELECT * FROM {schema}.callbacks WHERE callback_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2) FOR UPDATE",
        callback_id,
        tenant,
    )
    if row is None:
        raise NotFound(f"no callback {callback_id}")
    return row


Emit = Callable[[str, int | None, Sequence[Event]], Awaitable[object]]
"""Appends events to a stream at an expected version, in the caller's transaction."""


async def save(
    conn: Connection, schema: str, emit: Emit, row: asyncpg.Record, after: Callback,
    events: list[Event], now: datetime, comment: str = "",
) -> asyncpg.Record:  # fmt: skip
    """Append the events at the row's version and write the row after them."""
    if events:
        await emit(stream(row["callback_id"]), row["version"], events)
    updated = await conn.fetchrow(
        f"UPDATE {schema}.callbacks SET version = version + $2, status = $3, assigned_to = $4, "
        "reason = $5, escalated = $6, comment = CASE WHEN $7::text = '' THEN comment ELSE $7 END, "
        "updated_at = $8::timestamptz, finished_at = CASE WHEN $3 = 'open' THEN NULL ELSE $8 END "
        "WHERE callback_id = $1 RETURNING *",
        after.callback_id, len(events), after.status, after.assigned_to, after.reason,
        after.escalated, comment, now,
    )  # fmt: skip
    assert updated is not None
    await mark_block_dirty(conn, schema, after.client_id)
    return updated


def envelope(row: asyncpg.Record, now: datetime, actor: Actor = SYSTEM) -> dict[str, Any]:
    """The fields every event of this callback carries."""
    return {
        "client_id": row["client_id"], "occurred_at": now, "actor": actor,
        "callback_id": row["callback_id"], "call_id": row["call_id"],
    }  # fmt: skip


async def finish(
    store: EventStore,
    callback_id: UUID,
    outcome: Literal["done", "failed"],
    *,
    caller: Principal,
    now: datetime,
    reason: str = "",
    comment: str = "",
) -> dict[str, Any]:
    """An operator called back (done) or could not (failed, with a reason)."""

    async def attempt() -> dict[str, Any]:
        async with store.transaction() as conn:
            row = await lock(conn, store.schema, callback_id, caller.tenant)
            after = domain.finish(state(row), outcome, reason)
            event: Event
            if outcome == "done":
                operator = caller.subject if caller.role == "operator" else None
                event = CallbackDone(
                    **envelope(row, now, caller.actor()), operator_id=operator, comment=comment
                )
            else:
                event = CallbackFailed(
                    **envelope(row, now, caller.actor()),
                    reason=reason,
                    comment=comment,
                )
            updated = await save(
                conn,
                store.schema,
                partial(store.append, conn=conn),
                row,
                after,
                [event],
                now,
                comment,
            )
            return dict(updated)

    found = await retrying(attempt, what=f"callback {callback_id}")
    metrics.CALLBACKS_FINISHED.labels(outcome).inc()
    return found


async def assign(
    store: EventStore, callback_id: UUID, operator_id: str, *, caller: Principal, now: datetime
) -> dict[str, Any]:
    """Give the callback to an operator: an operator takes it themself; staff give it anyone."""
    if caller.role == "operator" and operator_id != caller.subject:
        raise Forbidden("an operator takes a callback for themself only")
    async with store.transaction() as conn:
        row = await lock(conn, store.schema, callback_id, caller.tenant)
        on_roster = await conn.fetchval(
            f"SELECT 1 FROM {store.schema}.roster WHERE operator_id = $1", operator_id
        )
        if not on_roster:
            raise NotFound(f"no operator {operator_id} on the roster")
        after = domain.assign(state(row), operator_id)
        if after == state(row):
            return dict(row)
        event = CallbackAssigned(**envelope(row, now, caller.actor()), operator_id=operator_id)
        return dict(
            await save(
                conn, store.schema, partial(store.append, conn=conn), row, after, [event], now
            )
        )


async def next_unassigned_due(
    conn: Connection, schema: str, now: datetime, passed: list[UUID]
) -> asyncpg.Record | None:
    """The earliest open, due callback nobody has, locked (skipping those tried this round)."""
    return await conn.fetchrow(
        f"SELECT * FROM {schema}.callbacks WHERE status = 'open' AND assigned_to IS NULL "
        "AND due_at <= $1 AND NOT (callback_id = ANY($2::uuid[])) "
        "ORDER BY due_at, callback_id LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
        passed,
    )


async def next_to_escalate(
    conn: Connection, schema: str, now: datetime, grace: timedelta
) -> asyncpg.Record | None:
    """The earliest overdue callback not escalated yet, locked."""
    return await conn.fetchrow(
        f"SELECT * FROM {schema}.callbacks WHERE status = 'open' AND NOT escalated "
        "AND due_at + $2 <= $1 ORDER BY due_at, callback_id LIMIT 1 FOR UPDATE SKIP LOCKED",
        now,
        grace,
    )


async def open_load(conn: Connection, schema: str) -> dict[str, int]:
    """How many open callbacks each operator has."""
    rows = await conn.fetch(
        f"SELECT assigned_to, count(*) AS n FROM {schema}.callbacks "
        "WHERE status = 'open' AND assigned_to IS NOT NULL GROUP BY assigned_to"
    )
    return {row["assigned_to"]: row["n"] for row in rows}


async def assign_due(store: EventStore, now: datetime, limit: int = 200) -> int:
    """Give every due, unassigned callback to an operator on duty who speaks its language."""
    passed: list[UUID] = []
    assigned = 0
    while len(passed) + assigned < limit:
        async with store.transaction() as conn:
            row = await next_unassigned_due(conn, store.schema, now, passed)
            if row is None:
                break
            roster = await directory.roster(conn, store.schema)
            chosen = domain.pick_operator(state(row), roster, await open_load(conn, store.schema))
            if chosen is None:  # nobody on duty speaks it: it waits, and shows as overdue
                passed.append(row["callback_id"])
                continue
            after = domain.assign(state(row), chosen)
            event = CallbackAssigned(**envelope(row, now), operator_id=chosen)
            await save(
                conn, store.schema, partial(store.append, conn=conn), row, after, [event], now
            )
            assigned += 1
            log.info("callback.assigned", callback_id=str(row["callback_id"]), operator=chosen)
    return assigned


async def escalate_overdue(
    store: EventStore, now: datetime, grace: timedelta, limit: int = 200
) -> int:
    """Escalate every overdue callback once: the desk is alerted and anyone may take it."""
    escalated = 0
    while escalated < limit:
        async with store.transaction() as conn:
            row = await next_to_escalate(conn, store.schema, now, grace)
            if row is None:
                break
            before = state(row)
            after = domain.escalated(before)
            minutes = int((now - before.due_at).total_seconds() // 60)
            event = CallbackEscalated(
                **envelope(row, now), overdue_since=before.due_at + grace,
                assigned_to=before.assigned_to, open_minutes=max(minutes, 0),
            )  # fmt: skip
            await save(
                conn, store.schema, partial(store.append, conn=conn), row, after, [event], now
            )
            escalated += 1
        metrics.CALLBACKS_ESCALATED.labels(before.language).inc()
        log.error(
            "callback.escalated",
            callback_id=str(before.callback_id),
            client_id=str(before.client_id),
            assigned_to=before.assigned_to,
            alert="a promised callback is overdue; the desk must call back now",
        )
    return escalated


async def listing(
    db: Queryable,
    schema: str,
    *,
    client_id: UUID | None,
    status: str | None,
    assigned_to: str | None,
    language: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The list, due first: filtered by client, status, operator and language."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.callbacks WHERE ($1::uuid IS NULL OR client_id = $1) "
        "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR assigned_to = $3) "
        "AND ($4::text IS NULL OR language = $4) "
        "ORDER BY (status <> 'open'), escalated DESC, due_at, callback_id LIMIT $5",
        client_id, status, assigned_to, language, limit,
    )  # fmt: skip
    return [dict(row) for row in rows]


async def get(
    db: Queryable, schema: str, callback_id: UUID, tenant: UUID | None
) -> dict[str, Any] | None:
    """One callback (None when unknown or another tenant's)."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.callbacks WHERE callback_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        callback_id,
        tenant,
    )
    return dict(row) if row else None
