"""Billing's projection: every event it folds, with its log position, and the read tables.

Consumed events are recorded with the (topic, partition, offset) they were read at. Billing's
own events are recorded when appended (position unknown yet) and again, with their position,
when they come back from the billing topic; a projection rebuilt from the topics alone ends up
with the same documents, counters and payments.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from libs.events.billing import (
    CreditNoteIssued,
    InvoiceIssued,
    LogPosition,
    PaymentRecorded,
)
from libs.events.catalogue import decode, encode
from libs.events.envelope import Event
from libs.events.intake import ClientRegistered, PlanChanged
from libs.events.values import PunchCardPlan
from libs.platform.db import Connection, advisory_key
from services.billing.domain import ClientFacts, client_facts, is_top_up

Queryable: TypeAlias = asyncpg.Pool | Connection
Position = tuple[str, int, int]
Project = Callable[[Connection, str, Any], Awaitable[None]]


def stream_id(client_id: UUID) -> str:
    """The billing stream of a client: all its documents, top-ups and payments, in order."""
    return f"billing-{client_id}"


async def lock_client(conn: Connection, schema: str, client_id: UUID) -> None:
    """Serialise billing's writes for one client until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(schema, str(client_id)))


async def record(conn: Connection, schema: str, event: Event, position: Position | None) -> None:
    """Keep an event with where it was read; a known event only gains its position."""
    topic, partition, offset = position or (None, None, None)
    await conn.execute(
        f"INSERT INTO {schema}.history (event_id, client_id, event_type, occurred_at, topic, "
        'partition, "offset", payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) '
        "ON CONFLICT (event_id) DO UPDATE SET topic = EXCLUDED.topic, "
        'partition = EXCLUDED.partition, "offset" = EXCLUDED."offset" '
        "WHERE history.topic IS NULL AND EXCLUDED.topic IS NOT NULL",
        event.event_id, event.client_id, event.type, event.occurred_at, topic, partition,
        offset, encode(event).decode(),
    )  # fmt: skip
    project = PROJECT.get(type(event))
    if project is not None:
        await project(conn, schema, event)


async def record_own(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """Keep events billing just appended, in the same transaction."""
    for event in events:
        await record(conn, schema, event, None)


async def _client_registered(conn: Connection, schema: str, event: ClientRegistered) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.clients (client_id, name, language, contact_email, "
        "registered_at, punch_card) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) "
        "DO UPDATE SET name = EXCLUDED.name, language = EXCLUDED.language, "
        "contact_email = EXCLUDED.contact_email, "
        "punch_card = clients.punch_card OR EXCLUDED.punch_card",
        event.client_id, event.name, event.language, event.contact_email, event.occurred_at,
        isinstance(event.plan, PunchCardPlan),
    )  # fmt: skip


async def _plan_changed(conn: Connection, schema: str, event: PlanChanged) -> None:
    if isinstance(event.plan, PunchCardPlan):
        await conn.execute(
            f"UPDATE {schema}.clients SET punch_card = true WHERE client_id = $1", event.client_id
        )


async def _document(conn: Connection, schema: str, event: InvoiceIssued | CreditNoteIssued) -> None:
    values: tuple[UUID, str, str, str, UUID | None]
    if isinstance(event, InvoiceIssued):
        values = (event.invoice_id, "invoice", "top_up" if is_top_up(event) else "monthly",
                  event.invoice_number, None)  # fmt: skip
    else:
        values = (event.credit_note_id, "credit_note", "credit_note", event.credit_note_number,
                  event.original_invoice_id)  # fmt: skip
    document_id, kind, purpose, number, original = values
    await conn.execute(
        f"INSERT INTO {schema}.documents (document_id, client_id, kind, purpose, number, "
        "period, issued_at, total_cents, original_invoice_id, payload) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT DO NOTHING",
        document_id, event.client_id, kind, purpose, number, event.period, event.occurred_at,
        event.total_cents, original, encode(event).decode(),
    )  # fmt: skip
    await _count_number(conn, schema, number)


async def _count_number(conn: Connection, schema: str, number: str) -> None:
    """Keep the per-year counter at least at a number issued (so a rebuild continues it)."""
    parts = number.split("-")  # "2026-000123" or "CN-2026-000004"
    series = "".join(f"{part}-" for part in parts[:-2])
    await conn.execute(
        f"INSERT INTO {schema}.counters (series, year, last_number) VALUES ($1, $2, $3) "
        "ON CONFLICT (series, year) DO UPDATE SET "
        "last_number = greatest(counters.last_number, EXCLUDED.last_number)",
        series, int(parts[-2]), int(parts[-1]),
    )  # fmt: skip


async def _payment(conn: Connection, schema: str, event: PaymentRecorded) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.payments (payment_id, invoice_id, client_id, amount_cents, "
        "paid_at, reference) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        event.payment_id, event.invoice_id, event.client_id, event.amount_cents, event.paid_at,
        event.reference,
    )  # fmt: skip


PROJECT: dict[type[Event], Project] = {
    ClientRegistered: _client_registered,
    PlanChanged: _plan_changed,
    InvoiceIssued: _document,
    CreditNoteIssued: _document,
    PaymentRecorded: _payment,
}
"""Read tables kept beside the history, by event type."""


async def next_number(conn: Connection, schema: str, series: str, year: int) -> int:
    """The next gap-free number of a series and year; the row stays locked until commit."""
    await conn.execute(
        f"INSERT INTO {schema}.counters (series, year, last_number) VALUES ($1, $2, 0) "
        "ON CONFLICT DO NOTHING",
        series, year,
    )  # fmt: skip
    last = await conn.fetchval(
        f"SELECT last_number FROM {schema}.counters WHERE series = $1 AND year = $2 FOR UPDATE",
        series, year,
    )  # fmt: skip
    await conn.execute(
        f"UPDATE {schema}.counters SET last_number = $3 WHERE series = $1 AND year = $2",
        series, year, last + 1,
    )  # fmt: skip
    return int(last) + 1


async def load_client(
    db: Queryable, schema: str, client_id: UUID, input_topics: Sequence[str]
) -> tuple[ClientFacts, list[LogPosition]]:
    """The client's facts and, per input partition, the last offset they include."""
    rows = await db.fetch(
        f'SELECT payload::text AS payload, topic, partition, "offset" FROM {schema}.history '
        'WHERE client_id = $1 ORDER BY topic NULLS LAST, partition, "offset", occurred_at',
        client_id,
    )
    facts = client_facts((decode(row["payload"]) for row in rows), client_id)
    last: dict[tuple[str, int], int] = {}
    for row in rows:
        if row["topic"] in input_topics:
            key = (row["topic"], row["partition"])
            last[key] = max(last.get(key, -1), row["offset"])
    positions = [LogPosition(topic=t, partition=p, offset=o) for (t, p), o in sorted(last.items())]
    return facts, positions


async def client_ids(db: Queryable, schema: str) -> list[UUID]:
    """Every registered client billing knows."""
    rows = await db.fetch(f"SELECT client_id FROM {schema}.clients ORDER BY client_id")
    return [row["client_id"] for row in rows]


async def client_row(db: Queryable, schema: str, client_id: UUID) -> dict[str, Any] | None:
    """A client's name, language and e-mail, or None."""
    row = await db.fetchrow(f"SELECT * FROM {schema}.clients WHERE client_id = $1", client_id)
    return dict(row) if row is not None else None


async def is_punch_card_client(db: Queryable, schema: str, client_id: UUID) -> bool:
    """Whether the client ever had a punch card (only those can run low)."""
    found = await db.fetchval(
        f"SELECT punch_card FROM {schema}.clients WHERE client_id = $1", client_id
    )
    return bool(found)


async def monthly_invoice(db: Queryable, schema: str, client_id: UUID, period: str) -> Any:
    """The monthly invoice of a client and month, as stored, or None."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.documents WHERE client_id = $1 AND period = $2 "
        "AND purpose = 'monthly'",
        client_id, period,
    )  # fmt: skip


async def document(db: Queryable, schema: str, document_id: UUID, kind: str) -> Any:
    """An issued invoice or credit note row, or None."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.documents WHERE document_id = $1 AND kind = $2",
        document_id, kind,
    )  # fmt: skip


async def documents(
    db: Queryable, schema: str, client_id: UUID | None, period: str | None, kind: str
) -> list[Any]:
    """Issued documents of a kind, of one client or all, optionally of one month; oldest first."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.documents WHERE kind = $3 "
        "AND ($1::uuid IS NULL OR client_id = $1) AND ($2::text IS NULL OR period = $2) "
        "ORDER BY issued_at, number LIMIT 1000",
        client_id, period, kind,
    )  # fmt: skip
    return list(rows)


async def settled(db: Queryable, schema: str, invoice_id: UUID) -> tuple[int, int]:
    """What was paid and what was credited on an invoice, in cents."""
    row = await db.fetchrow(
        f"SELECT (SELECT coalesce(sum(amount_cents), 0) FROM {schema}.payments "
        "WHERE invoice_id = $1) AS paid, (SELECT coalesce(sum(total_cents), 0) "
        f"FROM {schema}.documents WHERE original_invoice_id = $1) AS credited",
        invoice_id,
    )
    assert row is not None
    return int(row["paid"]), int(row["credited"])


def payload(row: Any) -> dict[str, Any]:
    """The stored event of a document row, as JSON data."""
    data: dict[str, Any] = json.loads(row["payload"])
    return data
