"""The read model of calls: one row per call, written from the folded call, and its history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from libs.events.calls import CallEvent
from libs.events.catalogue import encode
from libs.events.envelope import Event
from libs.platform.db import Connection
from services.calls.domain.model import Call

Queryable: TypeAlias = asyncpg.Pool | Connection
_JSON_COLUMNS = ("voicemail", "note", "escalations", "non_billable")
_NOTE_FIELDS = {
    "operator_id", "book_version", "caller_name", "caller_company", "caller_number", "message",
    "follow_up", "follow_up_detail", "actions_taken", "information_given",
}  # fmt: skip
_ESCALATION_FIELDS = {"escalation_id", "urgency_kind", "reason", "book_version"}
_VOICEMAIL_FIELDS = {"recording_ref", "duration_seconds", "summary"}
_COLUMNS = (
    "call_id", "client_id", "dialled_number", "caller_number", "received_at", "book_version",
    "office_open", "stage", "operator_id", "language", "answered_at", "transferred_to",
    "voicemail", "note", "notes_count", "escalations", "non_billable", "ended_at", "version",
    "updated_at",
)  # fmt: skip
_VALUES = ", ".join(
    f"${n}::jsonb" if column in _JSON_COLUMNS else f"${n}"
    for n, column in enumerate(_COLUMNS, start=1)
)
_UPDATES = ", ".join(f"{column} = EXCLUDED.{column}" for column in _COLUMNS[1:])


async def record(conn: Connection, schema: str, call: Call, events: Sequence[Event]) -> None:
    """Write the call's row as the events left it, and the events to its history."""
    await conn.execute(
        f"INSERT INTO {schema}.calls ({', '.join(_COLUMNS)}) VALUES ({_VALUES}) "
        f"ON CONFLICT (call_id) DO UPDATE SET {_UPDATES}",
        *row_of(call, updated_at=events[-1].occurred_at).values(),
    )
    first = call.version - len(events) + 1
    for version, event in enumerate(events, start=first):
        if not isinstance(event, CallEvent):
            raise TypeError(f"{event.type} is not an event of a call")
        await _append_history(conn, schema, version, event)


def row_of(call: Call, *, updated_at: datetime) -> dict[str, Any]:
    """The read row of a call, column by column (the JSON columns as JSON text)."""
    return {
        "call_id": call.call_id,
        "client_id": call.client_id,
        "dialled_number": call.dialled_number,
        "caller_number": call.caller_number,
        "received_at": call.received_at,
        "book_version": call.book_version,
        "office_open": call.office_open,
        "stage": call.stage,
        "operator_id": call.operator_id,
        "language": call.language,
        "answered_at": call.answered_at,
        "transferred_to": call.transferred_to,
        "voicemail": _json(call.voicemail, _VOICEMAIL_FIELDS, "recorded_at"),
        "note": _json(call.note, _NOTE_FIELDS, "recorded_at"),
        "notes_count": call.notes,
        "escalations": _escalations(call),
        "non_billable": _json(call.non_billable, {"reason", "comment", "evidence"}, "marked_at"),
        "ended_at": call.ended_at,
        "version": call.version,
        "updated_at": updated_at,
    }


def _escalations(call: Call) -> str:
    return json.dumps([_item(e, _ESCALATION_FIELDS, "requested_at") for e in call.escalations])


def _json(event: Event | None, fields: set[str], stamp: str) -> str | None:
    """Some of an event's fields as a JSON object (None: NULL)."""
    return None if event is None else json.dumps(_item(event, fields, stamp))


def _item(event: Event, fields: set[str], stamp: str) -> dict[str, Any]:
    """Some of an event's fields, with its time under `stamp`."""
    return {**event.model_dump(mode="json", include=fields), stamp: event.occurred_at.isoformat()}


async def _append_history(conn: Connection, schema: str, version: int, event: CallEvent) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.call_history (call_id, stream_version, event_id, event_type, "
        "occurred_at, event) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        event.call_id, version, event.event_id, event.type, event.occurred_at,
        encode(event).decode(),
    )  # fmt: skip


async def get_call(
    db: Queryable, schema: str, call_id: UUID, client_id: UUID | None
) -> dict[str, Any] | None:
    """One call's read-model row, or None; with `client_id`, only if the call is that client's.

    The filter is the domain's `reachable` rule: another client's call is simply not found.
    """
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.calls WHERE call_id = $1 AND ($2::uuid IS NULL OR client_id = $2)",
        call_id,
        client_id,
    )
    return _row(row) if row is not None else None


async def list_calls(
    db: Queryable,
    schema: str,
    *,
    client_id: UUID | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Calls received in [start, end), of one client or all, oldest first."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.calls WHERE ($1::uuid IS NULL OR client_id = $1) "
        "AND ($2::timestamptz IS NULL OR received_at >= $2) "
        "AND ($3::timestamptz IS NULL OR received_at < $3) "
        "ORDER BY received_at, call_id LIMIT $4",
        client_id, start, end, limit,
    )  # fmt: skip
    return [_row(row) for row in rows]


async def history(
    db: Queryable, schema: str, call_id: UUID, client_id: UUID | None
) -> list[dict[str, Any]]:
    """A call's events, in stream order; with `client_id`, none unless the call is its."""
    rows = await db.fetch(
        f"SELECT h.stream_version, h.event FROM {schema}.call_history h "
        f"JOIN {schema}.calls c USING (call_id) "
        "WHERE h.call_id = $1 AND ($2::uuid IS NULL OR c.client_id = $2) "
        "ORDER BY h.stream_version",
        call_id,
        client_id,
    )
    return [_history_entry(r["stream_version"], json.loads(r["event"])) for r in rows]


def _history_entry(version: int, event: dict[str, Any]) -> dict[str, Any]:
    keys = ("event_id", "type", "occurred_at")
    return {"stream_version": version, **{k: event[k] for k in keys}, "event": event}


def _row(row: asyncpg.Record) -> dict[str, Any]:
    values = dict(row)
    for column in _JSON_COLUMNS:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    return values
