"""Notify's projection of calls: each call's latest note or voicemail, and escalation reasons.

Whether a call's latest message was reported is not stored here but read from the outgoing
queue (outgoing_calls of notifications not failed), which a replay never rebuilds.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import asyncpg

from libs.platform.db import Connection
from services.notify.directory import Queryable
from services.notify.domain import Call, Escalation, Note, Voicemail

Part = TypeVar("Part", Note, Voicemail)


def _reported(schema: str) -> str:
    """SQL for how many of a call's messages a live (not failed) notification carried."""
    return (
        f"coalesce((SELECT max(oc.messages) FROM {schema}.outgoing_calls oc "
        f"JOIN {schema}.outgoing o USING (notification_id) "
        "WHERE oc.call_id = c.call_id AND o.state <> 'failed'), 0)"
    )


async def load_call(db: Queryable, schema: str, call_id: UUID) -> Call | None:
    """The call with its latest message, or None when notify has not seen it."""
    row = await db.fetchrow(
        f"SELECT c.*, {_reported(schema)} AS reported FROM {schema}.calls c WHERE call_id = $1",
        call_id,
    )
    return _call(row) if row is not None else None


async def save_call(conn: Connection, schema: str, call: Call) -> None:
    """Insert or replace the call's row."""
    await conn.execute(
        f"INSERT INTO {schema}.calls (call_id, client_id, received_at, office_open, "
        "caller_number, correlation_id, note, voicemail, messages, deliver_after) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10) "
        "ON CONFLICT (call_id) DO UPDATE SET note = EXCLUDED.note, "
        "voicemail = EXCLUDED.voicemail, messages = EXCLUDED.messages, "
        "deliver_after = EXCLUDED.deliver_after",
        call.call_id, call.client_id, call.received_at, call.office_open, call.caller_number,
        call.correlation_id, _dump(call.note), _dump(call.voicemail), call.messages,
        call.deliver_after,
    )  # fmt: skip


async def unreported_calls(
    db: Queryable, schema: str, client_id: UUID, since: datetime, until: datetime
) -> list[Call]:
    """The client's calls received in [since, until) with a message not yet reported."""
    rows = await db.fetch(
        f"SELECT * FROM (SELECT c.*, {_reported(schema)} AS reported FROM {schema}.calls c "
        "WHERE client_id = $1 AND received_at >= $2 AND received_at < $3 AND messages > 0) x "
        "WHERE messages > reported ORDER BY received_at",
        client_id, since, until,
    )  # fmt: skip
    return [_call(row) for row in rows]


async def clients_with_voicemail_due(
    db: Queryable, schema: str, now: datetime, since: datetime
) -> list[UUID]:
    """Per-call clients holding an after-hours voicemail whose next working day has begun."""
    rows = await db.fetch(
        f"SELECT DISTINCT c.client_id FROM {schema}.calls c JOIN {schema}.clients k "
        "USING (client_id) WHERE k.mode = 'per_call' AND k.active AND c.deliver_after <= $1 "
        f"AND c.received_at >= $2 AND c.messages > {_reported(schema)}",
        now, since,
    )  # fmt: skip
    return [row["client_id"] for row in rows]


async def save_escalation(conn: Connection, schema: str, escalation: Escalation) -> None:
    """Keep why a call was escalated, for the messages of its attempts."""
    await conn.execute(
        f"INSERT INTO {schema}.escalations (escalation_id, call_id, urgency_kind, reason) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (escalation_id) DO NOTHING",
        escalation.escalation_id, escalation.call_id, escalation.urgency_kind, escalation.reason,
    )  # fmt: skip


async def load_escalation(db: Queryable, schema: str, escalation_id: UUID) -> Escalation | None:
    """Why a call was escalated, when the request has arrived."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.escalations WHERE escalation_id = $1", escalation_id
    )
    if row is None:
        return None
    return Escalation(row["escalation_id"], row["call_id"], row["urgency_kind"], row["reason"])


def _dump(part: Note | Voicemail | None) -> str | None:
    if part is None:
        return None
    return json.dumps(asdict(part), default=lambda value: value.isoformat())


def _call(row: asyncpg.Record) -> Call:
    return Call(
        call_id=row["call_id"],
        client_id=row["client_id"],
        received_at=row["received_at"],
        office_open=row["office_open"],
        caller_number=row["caller_number"],
        correlation_id=row["correlation_id"],
        note=_load(Note, row["note"]),
        voicemail=_load(Voicemail, row["voicemail"]),
        messages=row["messages"],
        reported=row["reported"],
        deliver_after=row["deliver_after"],
    )


def _load(kind: type[Part], raw: str | None) -> Part | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return kind(**{**data, "recorded_at": datetime.fromisoformat(data["recorded_at"])})
