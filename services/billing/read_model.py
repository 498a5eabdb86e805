"""Billing's own query tables: issued documents, their per-year counters and payments.

Written from billing's own events, when they are appended and again when they come back from
the billing topic; every write is idempotent, so a rebuild from the topics gives the same rows.
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
    InvoiceSent,
    PaymentRecorded,
    PaymentReminderSent,
)
from libs.events.catalogue import encode
from libs.events.envelope import Event
from libs.platform.db import Connection

Queryable: TypeAlias = asyncpg.Pool | Connection
Project = Callable[[Connection, str, Any], Awaitable[None]]


async def project(conn: Connection, schema: str, event: Event) -> None:
    """Update the tables an event of billing's own feeds (other events change nothing here)."""
    step = PROJECT.get(type(event))
    if step is not None:
        await step(conn, schema, event)


async def project_all(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """`project` of several events: documents, their counters and mail marks in one batch
    each (documents first: a mail mark needs its document), the rest one by one."""
    documents = [e for e in events if isinstance(e, InvoiceIssued | CreditNoteIssued)]
    sent = [e for e in events if isinstance(e, InvoiceSent)]
    if documents:
        await conn.executemany(DOCUMENT_INSERT.format(schema=schema),
                               [_document_row(e) for e in documents])  # fmt: skip
        highest: dict[tuple[str, int], int] = {}
        for series, year, number in (_numbered(_document_row(e)[4]) for e in documents):
            highest[(series, year)] = max(highest.get((series, year), 0), number)
        for (series, year), number in highest.items():
            await _count(conn, schema, series, year, number)
    if sent:
        await conn.executemany(SENT_UPDATE.format(schema=schema),
                               [(e.document_id, e.occurred_at) for e in sent])  # fmt: skip
    for event in events:
        if not isinstance(event, InvoiceIssued | CreditNoteIssued | InvoiceSent):
            await project(conn, schema, event)


DOCUMENT_INSERT = (
    "INSERT INTO {schema}.documents (document_id, client_id, kind, purpose, number, "
    "period, issued_at, total_cents, original_invoice_id, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT DO NOTHING"
)
SENT_UPDATE = (
    "UPDATE {schema}.documents SET sent_at = least(coalesce(sent_at, $2), $2) "
    "WHERE document_id = $1"
)


def _document_row(event: InvoiceIssued | CreditNoteIssued) -> tuple[Any, ...]:
    values: tuple[UUID, str, str, str, UUID | None]
    if isinstance(event, InvoiceIssued):
        values = (event.invoice_id, "invoice", event.purpose, event.invoice_number, None)
    else:
        values = (event.credit_note_id, "credit_note", "credit_note", event.credit_note_number,
                  event.original_invoice_id)  # fmt: skip
    document_id, kind, purpose, number, original = values
    return (document_id, event.client_id, kind, purpose, number, event.period,
            event.occurred_at, event.total_cents, original, encode(event).decode())  # fmt: skip


async def _document(conn: Connection, schema: str, event: InvoiceIssued | CreditNoteIssued) -> None:
    row = _document_row(event)
    await conn.execute(DOCUMENT_INSERT.format(schema=schema), *row)
    await _count(conn, schema, *_numbered(row[4]))


def _numbered(number: str) -> tuple[str, int, int]:
    """A document number's series, year and sequence: "2026-000123", "CN-2026-000004"."""
    parts = number.split("-")
    return "".join(f"{part}-" for part in parts[:-2]), int(parts[-2]), int(parts[-1])


async def _count(conn: Connection, schema: str, series: str, year: int, number: int) -> None:
    """Keep the per-year counter at least at a number issued (so a rebuild continues it)."""
    await conn.execute(
        f"INSERT INTO {schema}.counters (series, year, last_number) VALUES ($1, $2, $3) "
        "ON CONFLICT (series, year) DO UPDATE SET "
        "last_number = greatest(counters.last_number, EXCLUDED.last_number)",
        series, year, number,
    )  # fmt: skip


async def _payment(conn: Connection, schema: str, event: PaymentRecorded) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.payments (payment_id, invoice_id, client_id, amount_cents, "
        "paid_at, reference) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        event.payment_id, event.invoice_id, event.client_id, event.amount_cents, event.paid_at,
        event.reference,
    )  # fmt: skip


async def _sent(conn: Connection, schema: str, event: InvoiceSent) -> None:
    await conn.execute(SENT_UPDATE.format(schema=schema), event.document_id, event.occurred_at)


async def _reminded(conn: Connection, schema: str, event: PaymentReminderSent) -> None:
    await conn.execute(
        f"UPDATE {schema}.documents SET reminders = greatest(reminders, $2), "
        "last_reminder_at = greatest(coalesce(last_reminder_at, $3), $3) WHERE document_id = $1",
        event.invoice_id, event.reminder_number, event.occurred_at,
    )  # fmt: skip


PROJECT: dict[type[Event], Project] = {
    InvoiceIssued: _document,
    CreditNoteIssued: _document,
    PaymentRecorded: _payment,
    InvoiceSent: _sent,
    PaymentReminderSent: _reminded,
}
"""The query tables kept from billing's own events, by event type."""


async def next_number(conn: Connection, schema: str, series: str, year: int) -> int:
    """The next gap-free number of a series and year; the row stays locked until commit."""
    [number] = await next_numbers(conn, schema, series, year, 1)
    return number


async def next_numbers(conn: Connection, schema: str, series: str, year: int, count: int) -> range:
    """The next `count` gap-free numbers of a series and year, in order; the counter row
    stays locked until commit (a concurrent taker waits, then continues after them)."""
    if count == 0:
        return range(0)
    last = await conn.fetchval(
        f"INSERT INTO {schema}.counters AS c (series, year, last_number) VALUES ($1, $2, $3) "
        "ON CONFLICT (series, year) DO UPDATE SET last_number = c.last_number + $3 "
        "RETURNING last_number",
        series, year, count,
    )  # fmt: skip
    return range(int(last) - count + 1, int(last) + 1)


async def monthly_invoice(db: Queryable, schema: str, client_id: UUID, period: str) -> Any:
    """The monthly invoice of a client and month, as stored, or None."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.documents WHERE client_id = $1 AND period = $2 "
        "AND purpose = 'monthly'",
        client_id, period,
    )  # fmt: skip


async def monthly_invoices(
    db: Queryable, schema: str, client_ids: Sequence[UUID], period: str
) -> dict[UUID, Any]:
    """`monthly_invoice` of several clients in one query, by client (those with none left out)."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.documents WHERE client_id = ANY($1::uuid[]) AND period = $2 "
        "AND purpose = 'monthly'",
        list(client_ids), period,
    )  # fmt: skip
    return {row["client_id"]: row for row in rows}


async def document(
    db: Queryable, schema: str, document_id: UUID, kind: str, *, tenant: UUID | None
) -> Any:
    """An issued invoice or credit note row, or None; of the tenant's client only, if one."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.documents WHERE document_id = $1 AND kind = $2 "
        "AND ($3::uuid IS NULL OR client_id = $3)",
        document_id, kind, tenant,
    )  # fmt: skip


async def documents(
    db: Queryable, schema: str, client_id: UUID | None, period: str | None, kind: str
) -> list[Any]:
    """Issued documents of a kind, of one client or all, optionally of one month; oldest first."""
    rows = await db.fetch(
        f"SELECT d.*, {SETTLED.format(schema=schema)} FROM {schema}.documents d "
        "WHERE kind = $3 "
        "AND ($1::uuid IS NULL OR client_id = $1) AND ($2::text IS NULL OR period = $2) "
        "ORDER BY issued_at, number LIMIT 1000",
        client_id, period, kind,
    )  # fmt: skip
    return list(rows)


SETTLED = (
    "(SELECT coalesce(sum(amount_cents), 0)::bigint FROM {schema}.payments p "
    "WHERE p.invoice_id = d.document_id) AS paid, (SELECT coalesce(sum(total_cents), 0)::bigint "
    "FROM {schema}.documents c WHERE c.original_invoice_id = d.document_id) AS credited"
)
"""What was paid and credited on the document row `d`, as columns paid and credited."""


async def open_invoices(db: Queryable, schema: str) -> list[Any]:
    """Every invoice with something outstanding, with what was paid and credited on it."""
    rows = await db.fetch(
        f"SELECT * FROM (SELECT d.*, {SETTLED.format(schema=schema)} FROM {schema}.documents d "
        "WHERE kind = 'invoice') x WHERE total_cents - paid - credited > 0 "
        "ORDER BY issued_at LIMIT 10000"
    )
    return list(rows)


async def open_invoice(db: Queryable, schema: str, invoice_id: UUID) -> Any:
    """An invoice row with what was paid and credited on it, or None."""
    return await db.fetchrow(
        f"SELECT d.*, {SETTLED.format(schema=schema)} FROM {schema}.documents d "
        "WHERE document_id = $1 AND kind = 'invoice'",
        invoice_id,
    )


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
