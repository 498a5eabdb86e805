"""The read model of calls: one row per call and its history, written with each append."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from libs.events.calls import (
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallEvent,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    EscalationRequested,
    NoteRecorded,
    VoicemailRecorded,
)
from libs.events.catalogue import encode
from libs.events.envelope import Event
from libs.platform.db import Connection

Queryable: TypeAlias = asyncpg.Pool | Connection
_JSON_COLUMNS = ("voicemail", "note", "escalations", "non_billable")
_NOTE_FIELDS = {
    "operator_id", "book_version", "caller_name", "caller_company", "caller_number", "message",
    "follow_up", "follow_up_detail", "actions_taken", "information_given",
}  # fmt: skip
_ESCALATION_FIELDS = {"escalation_id", "urgency_kind", "reason", "book_version"}
_VOICEMAIL_FIELDS = {"recording_ref", "duration_seconds", "summary"}


async def apply(conn: Connection, schema: str, after: int, events: Sequence[Event]) -> None:
    """Update the read tables for events appended after stream version `after`."""
    for version, event in enumerate(events, start=after + 1):
        if not isinstance(event, CallEvent):
            raise TypeError(f"{event.type} is not an event of a call")
        if isinstance(event, CallReceived):
            await _insert_call(conn, schema, event)
        else:
            clause, args = _changes(event)
            await conn.execute(
                f"UPDATE {schema}.calls SET {clause}, version = $2, updated_at = $3 "
                "WHERE call_id = $1",
                event.call_id, version, event.occurred_at, *args,
            )  # fmt: skip
        await _append_history(conn, schema, version, event)


async def _insert_call(conn: Connection, schema: str, event: CallReceived) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.calls (call_id, client_id, dialled_number, caller_number, "
        "received_at, book_version, office_open, stage, version, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, 'ringing', 1, $8)",
        event.call_id, event.client_id, event.dialled_number, event.caller_number,
        event.received_at, event.book_version, event.office_open, event.occurred_at,
    )  # fmt: skip


def _changes(event: Event) -> tuple[str, list[Any]]:
    """The SET clause for an event after the first ($1 call, $2 version, $3 occurred_at)."""
    match event:
        case CallAnswered():
            return (
                "stage = 'answered', operator_id = $4, language = $5, answered_at = $3",
                [event.operator_id, event.language],
            )
        case NoteRecorded():
            note = _dump(event, _NOTE_FIELDS, "recorded_at")
            return "note = $4::jsonb, notes_count = notes_count + 1", [note]
        case EscalationRequested():
            item = _dump(event, _ESCALATION_FIELDS, "requested_at")
            return "escalations = escalations || jsonb_build_array($4::jsonb)", [item]
        case CallTransferred():
            return "stage = 'transferred', transferred_to = $4", [event.to_number]
        case VoicemailRecorded():
            item = _dump(event, _VOICEMAIL_FIELDS, "recorded_at")
            return "stage = 'voicemail', voicemail = $4::jsonb", [item]
        case CallEnded():
            return "ended_at = $4", [event.ended_at]
        case CallMarkedNonBillable():
            return "non_billable = $4::jsonb", [_dump(event, {"reason", "comment"}, "marked_at")]
        case CallBillabilityRestored():
            return "non_billable = NULL", []
    raise ValueError(f"{event.type} does not belong in a call's stream")


def _dump(event: Event, fields: set[str], stamp: str) -> str:
    """Some of an event's fields as a JSON object, with its time under `stamp`."""
    item = event.model_dump(mode="json", include=fields)
    return json.dumps({**item, stamp: event.occurred_at.isoformat()})


async def _append_history(conn: Connection, schema: str, version: int, event: CallEvent) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.call_history (call_id, stream_version, event_id, event_type, "
        "occurred_at, event) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        event.call_id, version, event.event_id, event.type, event.occurred_at,
        encode(event).decode(),
    )  # fmt: skip


async def get_call(db: Queryable, schema: str, call_id: UUID) -> dict[str, Any] | None:
    """One call's read-model row, or None."""
    row = await db.fetchrow(f"SELECT * FROM {schema}.calls WHERE call_id = $1", call_id)
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


async def history(db: Queryable, schema: str, call_id: UUID) -> list[dict[str, Any]]:
    """A call's events, in stream order."""
    rows = await db.fetch(
        f"SELECT stream_version, event FROM {schema}.call_history WHERE call_id = $1 "
        "ORDER BY stream_version",
        call_id,
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
