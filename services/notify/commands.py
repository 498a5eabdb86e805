"""Notify's commands: run a day's digests, send the morning voicemail summaries.

Both come from the schedule worker, and the digest run also from the API. Every path that
decides which calls a notification carries takes the client's planning lock first, so two
paths (a note arriving while the digest runs) never put a call in two mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import asyncpg

from services.notify import directory, outbox, read_model
from services.notify.domain import filters
from services.notify.domain.model import Client
from services.notify.domain.plan import (
    check_digest_day,
    daily_digest,
    digest_run_day,
    voicemail_summary,
)
from services.notify.notifier import Notifier


@dataclass(frozen=True)
class DigestOutcome:
    """One client's digest for one day: the notification (None: nothing to report)."""

    client_id: UUID
    day: date
    notification_id: UUID | None
    calls: int
    created: bool


async def run_digest(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, client: Client, day: date, now: datetime
) -> DigestOutcome:
    """The client's digest for a day, created once: a second run returns the first."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.lock_client(conn, schema, client.client_id)
        if not await read_model.start_digest_run(conn, schema, client.client_id, day, now):
            row = await read_model.digest_run(conn, schema, client.client_id, day)
            return DigestOutcome(
                client.client_id, day, row["notification_id"], row["calls"], created=False
            )
        window = filters.digest_span(client, day)
        calls = await read_model.digest_candidates(conn, schema, client.client_id, window)
        mail = await read_model.digest_conversations(conn, schema, client, day)
        digest = daily_digest(client, day, calls, mail)
        if digest is None:
            return DigestOutcome(client.client_id, day, None, 0, created=True)
        await outbox.queue(conn, schema, notifier, [digest], now)
        await read_model.finish_digest_run(
            conn, schema, client.client_id, day, digest.notification_id, len(digest.calls)
        )
    return DigestOutcome(client.client_id, day, digest.notification_id, len(digest.calls), True)


async def run_digests(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, requested: date | None, now: datetime
) -> list[DigestOutcome]:
    """Every digest client's digest for the requested day, or for its own today."""
    clients = await directory.digest_clients(pool, schema)
    if requested is not None:
        check_digest_day(requested, clients, now)
    outcomes = []
    for client in clients:
        day = digest_run_day(client, requested, now)
        if day is not None:
            outcomes.append(await run_digest(pool, schema, notifier, client, day, now))
    return outcomes


async def voicemail_summaries(
    pool: asyncpg.Pool, schema: str, notifier: Notifier, now: datetime
) -> int:
    """Morning summaries of after-hours voicemail for per_call clients; how many queued."""
    queued = 0
    for client_id in await read_model.clients_with_voicemail_due(pool, schema, now):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.lock_client(conn, schema, client_id)
            client = await directory.load_client(conn, schema, client_id)
            if client is None:
                continue
            calls = await read_model.unreported_calls(conn, schema, client_id, filters.recent(now))
            summary = voicemail_summary(client, calls, now)
            if summary is not None:
                queued += len(await outbox.queue(conn, schema, notifier, [summary], now))
    return queued
