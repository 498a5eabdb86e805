"""Notify's own query tables: each call's latest note or voicemail, the appointments made from
it, escalation reasons, the inbox's conversations, and the digest runs.

Whether a call's latest message (or an appointment's latest change) was reported is not
stored here but read from the outgoing queue (outgoing_calls and outgoing_appointments of
notifications not failed), which a replay never rebuilds. The
filters are the domain's (`domain/filters.py`); the SQL here only fills in their fragments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

import asyncpg

from libs.platform.db import Connection
from services.notify.directory import Queryable
from services.notify.domain import filters
from services.notify.domain.appointments import Appointment, Slot
from services.notify.domain.mail import Conversation
from services.notify.domain.model import Call, Client, Note, Voicemail
from services.notify.domain.plan import Escalation

Part = TypeVar("Part", Note, Voicemail)


def _reported(schema: str) -> str:
    return filters.REPORTED_SQL.format(schema=schema)


async def load_call(db: Queryable, schema: str, call_id: UUID) -> Call | None:
    """The call with its latest message, or None when notify has not seen it."""
    row = await db.fetchrow(
        f"SELECT c.*, {_reported(schema)} AS reported FROM {schema}.calls c WHERE call_id = $1",
        call_id,
    )
    if row is None:
        return None
    [call] = await _with_appointments(db, schema, [_call(row)])
    return call


async def save_call(conn: Connection, schema: str, call: Call) -> None:
    """Insert or replace the call's row."""
    await conn.execute(
        f"INSERT INTO {schema}.calls (call_id, client_id, received_at, office_open, "
        "caller_number, correlation_id, note, voicemail, messages, deliver_after, imported) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11) "
        "ON CONFLICT (call_id) DO UPDATE SET note = EXCLUDED.note, "
        "voicemail = EXCLUDED.voicemail, messages = EXCLUDED.messages, "
        "deliver_after = EXCLUDED.deliver_after, imported = EXCLUDED.imported",
        call.call_id, call.client_id, call.received_at, call.office_open, call.caller_number,
        call.correlation_id, _dump(call.note), _dump(call.voicemail), call.messages,
        call.deliver_after, call.imported,
    )  # fmt: skip


async def unreported_calls(
    db: Queryable, schema: str, client_id: UUID, window: filters.Window
) -> list[Call]:
    """The client's calls received in the window with a message not yet reported."""
    received = filters.RECEIVED_SQL.format(client="$1", since="$2", until="$3")
    unreported = filters.UNREPORTED_SQL.format(reported="reported")
    rows = await db.fetch(
        f"SELECT * FROM (SELECT c.*, {_reported(schema)} AS reported FROM {schema}.calls c "
        f"WHERE {received} AND messages > 0) x WHERE {unreported} ORDER BY received_at",
        client_id, *window,
    )  # fmt: skip
    return await _with_appointments(db, schema, [_call(row) for row in rows])


async def digest_candidates(
    db: Queryable, schema: str, client_id: UUID, window: filters.Window
) -> list[Call]:
    """The unreported calls of the window and the calls with appointment news in it."""
    calls = await unreported_calls(db, schema, client_id, window)
    news = filters.APPOINTMENT_NEWS_SQL.format(
        client="$1", since="$2", until="$3", reported=_appointment_reported(schema)
    )
    rows = await db.fetch(
        f"SELECT c.*, {_reported(schema)} AS reported FROM {schema}.calls c WHERE call_id IN "
        f"(SELECT a.call_id FROM {schema}.appointments a WHERE {news}) "
        "AND NOT call_id = ANY($4::uuid[]) ORDER BY received_at",
        client_id, *window, [call.call_id for call in calls],
    )  # fmt: skip
    return calls + await _with_appointments(db, schema, [_call(row) for row in rows])


async def load_appointment(db: Queryable, schema: str, appointment_id: UUID) -> Appointment | None:
    """The appointment as notify knows it, or None before its first event."""
    row = await db.fetchrow(
        f"SELECT a.*, {_appointment_reported(schema)} AS reported FROM {schema}.appointments a "
        "WHERE appointment_id = $1",
        appointment_id,
    )
    return _appointment(row) if row is not None else None


async def save_appointment(conn: Connection, schema: str, a: Appointment) -> None:
    """Insert or replace the appointment's row (when it was first made stays the first time)."""
    await conn.execute(
        f"INSERT INTO {schema}.appointments (appointment_id, call_id, client_id, status, times, "
        "title, location, attendee_name, attendee_email, attendee_phone, reason, changes, "
        "changed_at, first_at, last_event_id) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, "
        "$9, $10, $11, $12, $13, $13, $14) ON CONFLICT (appointment_id) DO UPDATE SET "
        "status = EXCLUDED.status, times = EXCLUDED.times, title = EXCLUDED.title, "
        "location = EXCLUDED.location, attendee_name = EXCLUDED.attendee_name, "
        "attendee_email = EXCLUDED.attendee_email, attendee_phone = EXCLUDED.attendee_phone, "
        "reason = EXCLUDED.reason, changes = EXCLUDED.changes, "
        "changed_at = EXCLUDED.changed_at, last_event_id = EXCLUDED.last_event_id",
        a.appointment_id, a.call_id, a.client_id, a.status, _dump_times(a.times), a.title,
        a.location, a.attendee_name, a.attendee_email, a.attendee_phone, a.reason, a.changes,
        a.changed_at, a.last_event_id,
    )  # fmt: skip


async def _with_appointments(db: Queryable, schema: str, calls: Sequence[Call]) -> list[Call]:
    """The calls, each with its appointments in the order they were first made."""
    if not calls:
        return []
    rows = await db.fetch(
        f"SELECT a.*, {_appointment_reported(schema)} AS reported FROM {schema}.appointments a "
        "WHERE call_id = ANY($1::uuid[]) ORDER BY first_at, appointment_id",
        [call.call_id for call in calls],
    )
    made: dict[UUID, list[Appointment]] = {}
    for row in rows:
        made.setdefault(row["call_id"], []).append(_appointment(row))
    return [replace(call, appointments=tuple(made.get(call.call_id, ()))) for call in calls]


async def clients_with_voicemail_due(db: Queryable, schema: str, now: datetime) -> list[UUID]:
    """Clients wanting mail per call that may hold a voicemail due (filters.voicemail_due)."""
    wants = filters.WANTS_MAIL_NOW_SQL
    due = filters.VOICEMAIL_DUE_SQL.format(now="$1", since="$2")
    unreported = filters.UNREPORTED_SQL.format(reported=_reported(schema))
    rows = await db.fetch(
        f"SELECT DISTINCT client_id FROM {schema}.calls c WHERE {due} AND {unreported} "
        f"AND client_id IN (SELECT client_id FROM {schema}.clients WHERE {wants})",
        now, filters.recent(now)[0],
    )  # fmt: skip
    return [row["client_id"] for row in rows]


async def start_digest_run(
    conn: Connection, schema: str, client_id: UUID, day: date, now: datetime
) -> bool:
    """Record that the client's digest for the day is being made; False when it was before."""
    created = await conn.fetchval(
        f"INSERT INTO {schema}.digest_runs (client_id, day, created_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING true",
        client_id, day, now,
    )  # fmt: skip
    return bool(created)


async def finish_digest_run(
    conn: Connection, schema: str, client_id: UUID, day: date, notification_id: UUID, calls: int
) -> None:
    """Record the notification a digest run made and how many calls it carries."""
    await conn.execute(
        f"UPDATE {schema}.digest_runs SET notification_id = $3, calls = $4 "
        "WHERE client_id = $1 AND day = $2",
        client_id, day, notification_id, calls,
    )  # fmt: skip


async def digest_run(conn: Connection, schema: str, client_id: UUID, day: date) -> asyncpg.Record:
    """The digest run of a client and day that exists (notification id and call count)."""
    row = await conn.fetchrow(
        f"SELECT notification_id, calls FROM {schema}.digest_runs "
        "WHERE client_id = $1 AND day = $2",
        client_id,
        day,
    )
    assert row is not None, "the run exists: the insert conflicted with it"
    return row


async def digest_days(db: Queryable, schema: str, since: date) -> dict[UUID, set[date]]:
    """The days since `since` for which each client's digest already ran."""
    rows = await db.fetch(f"SELECT client_id, day FROM {schema}.digest_runs WHERE day >= $1", since)
    days: dict[UUID, set[date]] = {}
    for row in rows:
        days.setdefault(row["client_id"], set()).add(row["day"])
    return days


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


async def load_conversation(
    db: Queryable, schema: str, conversation_id: UUID
) -> Conversation | None:
    """The conversation as notify knows it, or None before its first event."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.conversations WHERE conversation_id = $1", conversation_id
    )
    return _conversation(row) if row is not None else None


async def save_conversation(conn: Connection, schema: str, c: Conversation) -> None:
    """Insert or replace the conversation's row."""
    await conn.execute(
        f"INSERT INTO {schema}.conversations (conversation_id, client_id, topic, sender, "
        "sender_name, subject, received_at, due_at, action, acted_at) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10) ON CONFLICT (conversation_id) DO UPDATE SET "
        "topic = EXCLUDED.topic, sender = EXCLUDED.sender, sender_name = EXCLUDED.sender_name, "
        "subject = EXCLUDED.subject, received_at = EXCLUDED.received_at, "
        "due_at = EXCLUDED.due_at, action = EXCLUDED.action, acted_at = EXCLUDED.acted_at",
        c.conversation_id, c.client_id, c.topic, c.sender, c.sender_name, c.subject,
        c.received_at, c.due_at, c.action, c.acted_at,
    )  # fmt: skip


async def digest_conversations(
    db: Queryable, schema: str, client: Client, day: date
) -> list[Conversation]:
    """The client's conversations the day's digest may list (filters.mail_entry decides)."""
    where = filters.MAIL_DIGEST_SQL.format(
        client="$1", since="$2", until="$3", due_by="$4", lookback="$5"
    )
    rows = await db.fetch(
        f"SELECT * FROM {schema}.conversations WHERE {where}",
        client.client_id, *filters.mail_span(client, day),
    )  # fmt: skip
    return [_conversation(row) for row in rows]


def _conversation(row: asyncpg.Record) -> Conversation:
    return Conversation(
        conversation_id=row["conversation_id"],
        client_id=row["client_id"],
        topic=row["topic"],
        sender=row["sender"],
        sender_name=row["sender_name"],
        subject=row["subject"],
        received_at=row["received_at"],
        due_at=row["due_at"],
        action=row["action"],
        acted_at=row["acted_at"],
    )


def _appointment_reported(schema: str) -> str:
    return filters.APPOINTMENT_REPORTED_SQL.format(schema=schema)


def _dump_times(times: Sequence[Slot]) -> str:
    return json.dumps([[slot.start.isoformat(), slot.end.isoformat()] for slot in times])


def _appointment(row: asyncpg.Record) -> Appointment:
    times = tuple(
        Slot(datetime.fromisoformat(start), datetime.fromisoformat(end))
        for start, end in json.loads(row["times"])
    )
    return Appointment(
        appointment_id=row["appointment_id"],
        call_id=row["call_id"],
        client_id=row["client_id"],
        status=row["status"],
        times=times,
        changed_at=row["changed_at"],
        last_event_id=row["last_event_id"],
        title=row["title"],
        location=row["location"],
        attendee_name=row["attendee_name"],
        attendee_email=row["attendee_email"],
        attendee_phone=row["attendee_phone"],
        reason=row["reason"],
        changes=row["changes"],
        reported=row["reported"],
    )


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
        imported=row["imported"],
    )


def _load(kind: type[Part], raw: str | None) -> Part | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return kind(**{**data, "recorded_at": datetime.fromisoformat(data["recorded_at"])})
