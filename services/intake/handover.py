"""The secretary book handed over: intake's view of what the client still owes, kept from
billing's events (no call to billing), and the release of every book version once nothing is.

Billing's invoices, payments and credit notes arrive on its topic; each is kept once by its
own id (`billing_invoices`, `billing_payments`, `billing_credits`), so a second delivery adds
nothing. What is open is computed from those rows at the moment of the request.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
import structlog

from libs.errors import NotFound
from libs.events.billing import CreditNoteIssued, InvoiceIssued, PaymentRecorded
from libs.events.catalogue import topic_for
from libs.events.intake import BookHandedOver
from libs.platform.auth import Principal
from libs.platform.consumer import Handler, Subscription, projecting
from libs.platform.db import Connection
from libs.platform.settings import Settings
from libs.platform.store import EventStore
from services.intake import handover_pdf, read_model
from services.intake.domain.handover import Document, Version, machine_readable, release

log = structlog.get_logger(__name__)
Queryable = asyncpg.Pool | Connection
Format = Literal["pdf", "json"]


async def invoice_issued(event: InvoiceIssued, conn: Connection, schema: str) -> None:
    """An invoice the client owes until it is paid or credited."""
    await conn.execute(
        f"INSERT INTO {schema}.billing_invoices (invoice_id, client_id, invoice_number, "
        "total_cents, issued_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        event.invoice_id, event.client_id, event.invoice_number, event.total_cents,
        event.occurred_at,
    )  # fmt: skip


async def payment_recorded(event: PaymentRecorded, conn: Connection, schema: str) -> None:
    """A payment against an invoice."""
    await conn.execute(
        f"INSERT INTO {schema}.billing_payments (payment_id, invoice_id, amount_cents) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event.payment_id, event.invoice_id, event.amount_cents,
    )  # fmt: skip


async def credit_note_issued(event: CreditNoteIssued, conn: Connection, schema: str) -> None:
    """A credit note: it lowers what is owed on the invoice it corrects."""
    await conn.execute(
        f"INSERT INTO {schema}.billing_credits (credit_note_id, invoice_id, amount_cents) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        event.credit_note_id, event.original_invoice_id, event.total_cents,
    )  # fmt: skip


HANDLERS: dict[str, Handler] = dict(
    [
        projecting(InvoiceIssued, invoice_issued),
        projecting(PaymentRecorded, payment_recorded),
        projecting(CreditNoteIssued, credit_note_issued),
    ]
)


def subscription(settings: Settings) -> Subscription:
    """Intake's consumer of billing's topic: what each client was invoiced and paid."""
    return Subscription(
        name=f"{settings.topic_prefix}-intake-billing",
        topics=(topic_for("billing", settings.topic_prefix),),
        handlers=HANDLERS,
    )


async def documents(db: Queryable, schema: str, client_id: UUID) -> list[Document]:
    """The client's invoices with what was paid and credited on each."""
    rows = await db.fetch(
        f"SELECT i.invoice_number, i.total_cents, i.issued_at, "
        f"coalesce((SELECT sum(amount_cents) FROM {schema}.billing_payments p "
        "WHERE p.invoice_id = i.invoice_id), 0) AS paid, "
        f"coalesce((SELECT sum(amount_cents) FROM {schema}.billing_credits c "
        "WHERE c.invoice_id = i.invoice_id), 0) AS credited "
        f"FROM {schema}.billing_invoices i WHERE i.client_id = $1",
        client_id,
    )
    return [
        Document(
            r["invoice_number"],
            r["total_cents"],
            int(r["paid"]),
            int(r["credited"]),
            r["issued_at"],
        )
        for r in rows
    ]


async def versions(db: Queryable, schema: str, client_id: UUID) -> list[Version]:
    """Every version of the client's book as it was written."""
    rows = await db.fetch(
        f"SELECT book_version, revised_at, book FROM {schema}.book_versions "
        "WHERE client_id = $1 ORDER BY book_version",
        client_id,
    )
    return [Version(r["book_version"], r["revised_at"], json.loads(r["book"])) for r in rows]


async def hand_over(
    store: EventStore, client_id: UUID, form: Format, caller: Principal, at: datetime
) -> bytes:
    """The book's every version in the asked form, recorded as BookHandedOver; Outstanding
    (a 409 naming each open invoice) while anything is owed."""
    client = await read_model.client(store.pool, store.schema, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    released = release(
        await documents(store.pool, store.schema, client_id),
        await versions(store.pool, store.schema, client_id),
    )
    if form == "pdf":
        body = handover_pdf.render(client.name, client.language, released, at)
    else:
        document = machine_readable(str(client_id), client.name, released, at)
        body = json.dumps(document, ensure_ascii=False, indent=2).encode()
    event = BookHandedOver(
        client_id=client_id, occurred_at=at, actor=caller.actor(), format=form,
        versions=len(released), latest_version=released[-1].book_version,
    )  # fmt: skip
    await store.append(f"handover-{client_id}", None, [event])
    log.info("intake.book_handed_over", client_id=str(client_id), format=form)
    return body
