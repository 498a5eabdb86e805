"""The domain's decisions turned into queued rows: per message, per digest day, per morning.

Every path that decides which calls a notification carries takes the client's planning lock
first, so two paths (a note arriving while the digest runs) never put a call in two mails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from libs.platform.db import Connection
from services.notify import directory, outbox, projections
from services.notify.domain import (
    LOOKBACK,
    Client,
    Notification,
    catch_up,
    daily_digest,
    day_bounds,
    target_problem,
    voicemail_summary,
    wants_mail_now,
)
from services.notify.notifier import Notifier

log = structlog.get_logger(__name__)
AHEAD = timedelta(days=366)
"""Upper bound for 'received by now' queries, generous for clocks that disagree a little."""


@dataclass(frozen=True)
class DigestOutcome:
    """One client's digest for one day: the notification (None: nothing to report)."""

    client_id: UUID
    day: date
    notification_id: UUID | None
    calls: int
    created: bool


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
        if await outbox.enqueue(
            conn, schema, n, body, message_id=message_id, now=now, failed=problem
        ):
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


async def catch_up_client(
    conn: Connection, schema: str, notifier: Notifier, client: Client, now: datetime
) -> None:
    """Per-call mails for a client's recent unreported messages (just known or switched)."""
    if not wants_mail_now(client):
        return
    await outbox.lock_client(conn, schema, client.client_id)
    calls = await projections.unreported_calls(
        conn, schema, client.client_id, now - LOOKBACK, now + AHEAD
    )
    await queue(conn, schema, notifier, catch_up(client, calls, now), now)


async def run_digest(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, client: Client, day: date, now: datetime
) -> DigestOutcome:
    """The client's digest for a day, created once: a second run returns the first."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.lock_client(conn, schema, client.client_id)
        created = await conn.fetchval(
            f"INSERT INTO {schema}.digest_runs (client_id, day, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING true",
            client.client_id, day, now,
        )  # fmt: skip
        if not created:
            return await _earlier_run(conn, schema, client.client_id, day)
        start, end = day_bounds(day, client.office_hours)
        calls = await projections.unreported_calls(
            conn, schema, client.client_id, start - LOOKBACK, end
        )
        digest = daily_digest(client, day, calls)
        if digest is None:
            return DigestOutcome(client.client_id, day, None, 0, created=True)
        await queue(conn, schema, notifier, [digest], now)
        await conn.execute(
            f"UPDATE {schema}.digest_runs SET notification_id = $3, calls = $4 "
            "WHERE client_id = $1 AND day = $2",
            client.client_id, day, digest.notification_id, len(digest.calls),
        )  # fmt: skip
    return DigestOutcome(client.client_id, day, digest.notification_id, len(digest.calls), True)


async def _earlier_run(conn: Connection, schema: str, client_id: UUID, day: date) -> DigestOutcome:
    row = await conn.fetchrow(
        f"SELECT notification_id, calls FROM {schema}.digest_runs "
        "WHERE client_id = $1 AND day = $2",
        client_id,
        day,
    )
    assert row is not None, "the run exists: the insert conflicted with it"
    return DigestOutcome(client_id, day, row["notification_id"], row["calls"], created=False)


async def digest_days(db: directory.Queryable, schema: str, since: date) -> dict[UUID, set[date]]:
    """The days since `since` for which each client's digest already ran."""
    rows = await db.fetch(f"SELECT client_id, day FROM {schema}.digest_runs WHERE day >= $1", since)
    days: dict[UUID, set[date]] = {}
    for row in rows:
        days.setdefault(row["client_id"], set()).add(row["day"])
    return days


async def voicemail_summaries(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, now: datetime
) -> int:
    """Morning summaries of after-hours voicemail for per_call clients; how many queued."""
    queued = 0
    for client_id in await projections.clients_with_voicemail_due(
        pool, schema, now, now - LOOKBACK
    ):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.lock_client(conn, schema, client_id)
            client = await directory.load_client(conn, schema, client_id)
            if client is None:
                continue
            calls = await projections.unreported_calls(
                conn, schema, client_id, now - LOOKBACK, now + AHEAD
            )
            summary = voicemail_summary(client, calls, now)
            if summary is not None:
                queued += len(await queue(conn, schema, notifier, [summary], now))
    return queued
