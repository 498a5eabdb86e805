"""The outgoing queue: one row per notification, claimed by the sender under a lease.

States: pending -> sending (claimed, lease running) -> sent | failed, or back to pending
with a later next_attempt_at after a transient failure. A row still `sending` when its lease
ends belongs to a sender that died; it is claimed again (and flagged `resumed`).
Queue times (next attempt, lease) are the database's real time, never the simulation clock:
they measure how long a process has been silent, not business time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from libs.platform.db import Connection, advisory_key
from services.notify.compose import Rendered
from services.notify.delivery import Outgoing
from services.notify.directory import Queryable
from services.notify.domain.appointments import Appointment
from services.notify.domain.plan import Notification, target_problem
from services.notify.notifier import Notifier

log = structlog.get_logger(__name__)

READ_COLUMNS = (
    "notification_id, client_id, channel, kind, state, recipients, subject, call_ids, "
    "message_id, attempts, error, permanent, created_at, sent_at, next_attempt_at"
)


def wake_channel(schema: str) -> str:
    """The LISTEN/NOTIFY channel that wakes the sender when a row is queued."""
    return f"{schema}_outgoing"


async def lock_client(conn: Connection, schema: str, client_id: UUID) -> None:
    """Serialise planning for one client until the transaction ends (no call mailed twice)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1)", advisory_key(schema, "plan", str(client_id))
    )


async def enqueue(
    conn: Connection,
    schema: str,
    n: Notification,
    body: Rendered,
    *,
    message_id: str,
    now: datetime,
    failed: str | None = None,
) -> bool:
    """Queue a notification unless its dedupe key is queued already; True when queued."""
    inserted = await conn.fetchval(
        f"INSERT INTO {schema}.outgoing (notification_id, dedupe_key, client_id, channel, kind, "
        "recipients, language, subject, body_text, body_html, call_ids, message_id, state, "
        "reference_at, correlation_id, created_at, error, permanent) VALUES ($1, $2, $3, $4, "
        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) "
        "ON CONFLICT DO NOTHING RETURNING true",
        n.notification_id, n.dedupe_key, n.client_id, n.channel, n.kind, list(n.recipients),
        n.language, body.subject, body.text, body.html, list(n.call_ids), message_id,
        "failed" if failed else "pending", n.reference_at, n.correlation_id, now, failed,
        True if failed else None,
    )  # fmt: skip
    if not inserted:
        return False
    await conn.executemany(
        f"INSERT INTO {schema}.outgoing_calls (notification_id, call_id, messages) "
        "VALUES ($1, $2, $3)",
        [(n.notification_id, c.call_id, c.messages) for c in n.calls if c.call_id in n.call_ids],
    )
    await conn.executemany(
        f"INSERT INTO {schema}.outgoing_appointments (notification_id, appointment_id, changes) "
        "VALUES ($1, $2, $3)",
        [(n.notification_id, a.appointment_id, a.changes) for a in carried_appointments(n)],
    )
    await conn.execute("SELECT pg_notify($1, '')", wake_channel(schema))
    return True


def carried_appointments(n: Notification) -> list[Appointment]:
    """The appointments a notification shows, at the change it shows them (none: escalations)."""
    return [a for c in n.calls if c.call_id in n.call_ids for a in c.appointments]


async def queue(
    conn: Connection,
    schema: str,
    notifier: Notifier,
    notifications: Iterable[Notification],
    now: datetime,
) -> list[UUID]:
    """Render and queue notifications; a dedupe key seen before is skipped."""
    queued = []
    for n in notifications:
        problem = target_problem(n.channel, n.recipients[0]) if n.kind == "escalation" else None
        message_id = notifier.message_id(n.notification_id)
        body = notifier.composer.render(n)
        if await enqueue(conn, schema, n, body, message_id=message_id, now=now, failed=problem):
            queued.append(n.notification_id)
            log.info(
                "notification.queued",
                notification_id=str(n.notification_id),
                client_id=str(n.client_id),
                kind=n.kind,
                channel=n.channel,
                calls=len(n.call_ids),
                refused=problem,
            )
    return queued


async def claim(db: Queryable, schema: str, *, limit: int, lease_seconds: float) -> list[Outgoing]:
    """Take up to `limit` due rows (pending, or sending with an expired lease) for sending."""
    rows = await db.fetch(
        f"""
        WITH due AS (
            SELECT notification_id, state AS was FROM {schema}.outgoing
            WHERE (state = 'pending' AND next_attempt_at <= now())
               OR (state = 'sending' AND lease_until < now())
            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE {schema}.outgoing o SET state = 'sending', attempts = o.attempts + 1,
            lease_until = now() + make_interval(secs => $2)
        FROM due WHERE o.notification_id = due.notification_id
        RETURNING o.*, due.was = 'sending' AS resumed
        """,
        limit,
        lease_seconds,
    )
    return [_outgoing(row) for row in rows]


async def mark_sent(conn: Connection, schema: str, o: Outgoing, now: datetime) -> bool:
    """Record the send, if this claim still holds the row."""
    return await _finish(conn, schema, o, "state = 'sent', sent_at = $3, error = NULL", now)


async def defer(
    conn: Connection, schema: str, o: Outgoing, error: str, delay_seconds: float
) -> bool:
    """Back to pending, to be tried again after a delay."""
    return await _finish(
        conn,
        schema,
        o,
        "state = 'pending', error = $3, next_attempt_at = now() + make_interval(secs => $4)",
        error,
        delay_seconds,
    )


async def mark_failed(conn: Connection, schema: str, o: Outgoing, error: str) -> bool:
    """Give up on the notification."""
    return await _finish(conn, schema, o, "state = 'failed', permanent = true, error = $3", error)


async def _finish(conn: Connection, schema: str, o: Outgoing, assignments: str, *args: Any) -> bool:
    """Apply a final transition, only while the row is still under this claim."""
    done = await conn.fetchval(
        f"UPDATE {schema}.outgoing SET {assignments}, lease_until = NULL "
        "WHERE notification_id = $1 AND state = 'sending' AND attempts = $2 RETURNING true",
        o.notification_id,
        o.attempts,
        *args,
    )
    return bool(done)


async def for_client(
    db: Queryable, schema: str, client_id: UUID, limit: int
) -> list[dict[str, Any]]:
    """A client's notifications, newest first."""
    rows = await db.fetch(
        f"SELECT {READ_COLUMNS} FROM {schema}.outgoing WHERE client_id = $1 "
        "ORDER BY created_at DESC, notification_id LIMIT $2",
        client_id,
        limit,
    )
    return [dict(row) for row in rows]


async def get(
    db: Queryable, schema: str, notification_id: UUID, client_id: UUID | None = None
) -> dict[str, Any] | None:
    """One notification with its bodies, or None (also, with `client_id`, another client's)."""
    row = await db.fetchrow(
        f"SELECT {READ_COLUMNS}, body_text, body_html FROM {schema}.outgoing "
        "WHERE notification_id = $1 AND ($2::uuid IS NULL OR client_id = $2)",
        notification_id,
        client_id,
    )
    return dict(row) if row is not None else None


async def backlog(db: Queryable, schema: str) -> dict[str, int]:
    """How many notifications wait (pending) or are being sent (sending)."""
    rows = await db.fetch(
        f"SELECT state, count(*) AS n FROM {schema}.outgoing "
        "WHERE state IN ('pending', 'sending') GROUP BY state"
    )
    return {"pending": 0, "sending": 0, **{row["state"]: row["n"] for row in rows}}


def _outgoing(row: asyncpg.Record) -> Outgoing:
    return Outgoing(
        notification_id=row["notification_id"],
        dedupe_key=row["dedupe_key"],
        client_id=row["client_id"],
        channel=row["channel"],
        kind=row["kind"],
        recipients=tuple(row["recipients"]),
        language=row["language"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_html=row["body_html"],
        call_ids=tuple(row["call_ids"]),
        message_id=row["message_id"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        reference_at=row["reference_at"],
        correlation_id=row["correlation_id"],
        resumed=row["resumed"],
    )
