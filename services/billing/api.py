"""The billing HTTP API: request model -> handler or pure fold -> response. Thin on purpose.

Staff run invoices, record payments, sell credit, replay and compare terms; staff and a client
(user or API key) read documents, usage and the punch card, a client only its own: every read
is filtered by the caller's tenant in its query, so another client's document is a plain 404.
Operators have no business in billing (403). Events carry the caller as their actor.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from libs.errors import NotFound, Rejected
from libs.platform.auth import Staff, StaffOrClient
from libs.platform.http import Runtime, Store, service_settings
from libs.platform.idempotency import Idempotent, IdempotentRoute, IdempotentRun
from libs.platform.problems import refusals
from libs.platform.store import EventStore
from services.billing import commands, directory, metrics, pdf, printing, read_model, ubl, views
from services.billing.domain.documents import run_period, statement
from services.billing.domain.issue import outstanding
from services.billing.domain.wallet import balance, wallet
from services.billing.domain.what_if import what_if
from services.billing.reactions import input_topics
from services.billing.replays import replay_from_log
from services.billing.schemas import (
    CreditNoteRead,
    InvoiceDocument,
    InvoiceRead,
    InvoiceRunCreate,
    InvoiceRunRead,
    InvoiceSummary,
    PaymentCreate,
    PaymentRead,
    Period,
    ReplayCreate,
    ReplayRead,
    RunResultRead,
    TopUpCreate,
    TopUpRead,
    UsageRead,
    WalletEntryRead,
    WalletRead,
    WhatIfCreate,
    WhatIfRead,
)
from services.billing.settings import BillingSettings

router = APIRouter(tags=["billing"], route_class=IdempotentRoute)
ERRORS = refusals(
    not_found="No such client or invoice",
    conflict="Not possible in the current state",
    rejected="Invalid request, or a business rule refuses it",
)
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The document as a PDF"}
}

XML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {}}, "description": "The document as UBL 2.1 XML"}
}


Config = Annotated[BillingSettings, Depends(service_settings)]


@router.post("/invoices/run", responses=ERRORS, dependencies=[IdempotentRun])
async def run_invoices(
    body: InvoiceRunCreate, rt: Runtime, store: Store, config: Config, caller: Staff
) -> InvoiceRunRead:
    """Invoice a month that has ended; idempotent per client and month."""
    topics = input_topics(rt.settings.topic_prefix)
    results = await commands.run_invoices(
        store, body.period, body.client_id, rt.clock.now(), topics, caller.actor(), config
    )
    return InvoiceRunRead(
        period=body.period,
        results=[RunResultRead.model_validate(r, from_attributes=True) for r in results],
    )


@router.get("/invoices", responses=ERRORS)
async def list_invoices(
    store: Store, config: Config, caller: StaffOrClient, client_id: UUID | None = None,
    period: Period | None = None,
) -> list[InvoiceSummary]:  # fmt: skip
    """Issued invoices, of one client or all, optionally of one month; oldest first.

    Each with its state (issued, sent, reminded, paid). A client sees only its own; asking
    for another client's is a 404, as for an unknown one.
    """
    scope = caller.scope(client_id)
    rows = await read_model.documents(store.pool, store.schema, scope, period, "invoice")
    return [InvoiceSummary.model_validate(_summary(row, config)) for row in rows]


def _summary(row: Any, config: BillingSettings) -> dict[str, Any]:
    outstanding = row["total_cents"] - row["paid"] - row["credited"]
    return {
        **read_model.payload(row), "purpose": row["purpose"], "issued_at": row["issued_at"],
        **views.delivery_fields(row, outstanding, config.payment_terms_days),
    }  # fmt: skip


@router.get("/invoices/{invoice_id}.pdf", responses={**ERRORS, **PDF}, response_class=Response)
async def invoice_pdf(
    invoice_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> Response:
    """The invoice as a PDF in the client's language."""
    document = await _document_view(store, config, invoice_id, "invoice", caller.tenant)
    content = await asyncio.to_thread(pdf.render, document, config.pdf_font_path)
    return Response(content, media_type="application/pdf")


@router.get("/invoices/{invoice_id}.xml", responses={**ERRORS, **XML}, response_class=Response)
async def invoice_xml(
    invoice_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> Response:
    """The invoice as a UBL 2.1 e-invoice (Peppol BIS Billing 3.0)."""
    document = await _document_view(store, config, invoice_id, "invoice", caller.tenant)
    return Response(ubl.build(document), media_type="application/xml")


@router.get("/invoices/{invoice_id}.json", responses=ERRORS)
async def invoice_document(
    invoice_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> InvoiceDocument:
    """What the invoice's PDF shows, as data."""
    return await _document_view(store, config, invoice_id, "invoice", caller.tenant)


@router.get("/invoices/{invoice_id}", responses=ERRORS)
async def get_invoice(
    invoice_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> InvoiceRead:
    """An issued invoice with its lines (and their call ids), what is paid, and its state."""
    row = await read_model.document(
        store.pool, store.schema, invoice_id, "invoice", tenant=caller.tenant
    )
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    paid, credited = await read_model.settled(store.pool, store.schema, invoice_id)
    data = read_model.payload(row)
    fields = views.invoice_fields(row, data, paid, credited, config.payment_terms_days)
    return InvoiceRead.model_validate(fields)


@router.post(
    "/invoices/{invoice_id}/payments",
    status_code=201,
    responses=ERRORS,
    dependencies=[Idempotent],
)
async def record_payment(
    invoice_id: UUID, body: PaymentCreate, rt: Runtime, store: Store, caller: Staff
) -> PaymentRead:
    """Money received against an invoice; more than is outstanding is refused."""
    event = await commands.pay(
        store, invoice_id, body.amount_cents, body.paid_at, body.reference, rt.clock.now(),
        caller.actor(),
    )  # fmt: skip
    client = await commands.facts(store.pool, store.schema, event.client_id)
    return PaymentRead.model_validate(
        {**event.model_dump(), "outstanding_cents": outstanding(client, invoice_id)}
    )


@router.get("/credit-notes", responses=ERRORS)
async def list_credit_notes(
    store: Store, caller: StaffOrClient, client_id: UUID | None = None
) -> list[CreditNoteRead]:
    """Issued credit notes, of one client or all; oldest first. A client sees only its own."""
    scope = caller.scope(client_id)
    rows = await read_model.documents(store.pool, store.schema, scope, None, "credit_note")
    return [CreditNoteRead.model_validate(_credit_note(row)) for row in rows]


def _credit_note(row: Any) -> dict[str, Any]:
    return {**read_model.payload(row), "issued_at": row["issued_at"]}


@router.get(
    "/credit-notes/{credit_note_id}.pdf", responses={**ERRORS, **PDF}, response_class=Response
)
async def credit_note_pdf(
    credit_note_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> Response:
    """The credit note as a PDF in the client's language."""
    document = await _document_view(store, config, credit_note_id, "credit_note", caller.tenant)
    content = await asyncio.to_thread(pdf.render, document, config.pdf_font_path)
    return Response(content, media_type="application/pdf")


@router.get(
    "/credit-notes/{credit_note_id}.xml", responses={**ERRORS, **XML}, response_class=Response
)
async def credit_note_xml(
    credit_note_id: UUID, store: Store, config: Config, caller: StaffOrClient
) -> Response:
    """The credit note as a UBL 2.1 CreditNote (Peppol BIS Billing 3.0)."""
    document = await _document_view(store, config, credit_note_id, "credit_note", caller.tenant)
    return Response(ubl.build(document), media_type="application/xml")


@router.get("/credit-notes/{credit_note_id}", responses=ERRORS)
async def get_credit_note(
    credit_note_id: UUID, store: Store, caller: StaffOrClient
) -> CreditNoteRead:
    """An issued credit note with its lines."""
    row = await read_model.document(
        store.pool, store.schema, credit_note_id, "credit_note", tenant=caller.tenant
    )
    if row is None:
        raise NotFound(f"no credit note {credit_note_id}")
    return CreditNoteRead.model_validate(_credit_note(row))


async def _document_view(
    store: EventStore, config: BillingSettings, document_id: UUID, kind: str,
    tenant: UUID | None,
) -> InvoiceDocument:  # fmt: skip
    return await printing.printed(store.pool, store.schema, config, document_id, kind, tenant)


@router.post(
    "/clients/{client_id}/punch-card",
    status_code=201,
    responses=ERRORS,
    dependencies=[Idempotent],
)
async def buy_credit(
    client_id: UUID, body: TopUpCreate, rt: Runtime, store: Store, config: Config, caller: Staff
) -> TopUpRead:
    """Buy punch-card credit; it is invoiced at once."""
    if await directory.client_row(store.pool, store.schema, client_id) is None:
        raise NotFound(f"no client {client_id}")
    topics = input_topics(rt.settings.topic_prefix)
    topped, invoice = await commands.buy_credit(
        store, client_id, body.amount_cents, rt.clock.now(), topics, caller.actor(), config
    )
    return TopUpRead.model_validate(
        {**topped.model_dump(), **invoice.model_dump(include={"invoice_id", "invoice_number"})}
    )


@router.get("/clients/{client_id}/punch-card", responses=ERRORS)
async def read_wallet(client_id: UUID, store: Store, caller: StaffOrClient) -> WalletRead:
    """The punch card's balance and every top-up and draw (a client's own only)."""
    client = await commands.facts(store.pool, store.schema, caller.own(client_id, "client"))
    entries = [WalletEntryRead.model_validate(e, from_attributes=True) for e in wallet(client)]
    return WalletRead(client_id=client_id, balance_cents=balance(client), entries=entries)


@router.get("/clients/{client_id}/usage", responses=ERRORS)
async def usage(
    client_id: UUID, period: Annotated[Period, Query()], store: Store, caller: StaffOrClient
) -> UsageRead:
    """The month as it stands: each call's decision, the cost, what a run would issue."""
    client = await commands.facts(store.pool, store.schema, caller.own(client_id, "client"))
    return views.usage_read(
        client_id, period, run_period(client, period), statement(client, period)
    )


@router.post("/replays", responses=ERRORS)
async def replay(body: ReplayCreate, rt: Runtime, config: Config, _: Staff) -> ReplayRead:
    """Rebuild a month from the Kafka log (side effects off) and compare it with the invoice."""
    s = rt.settings
    try:
        result, read = await asyncio.wait_for(
            replay_from_log(s.kafka_bootstrap_servers, s.topic_prefix, body.client_id,
                            body.period, body.as_of),
            config.replay_timeout_seconds,
        )  # fmt: skip
    except TimeoutError as exc:
        raise HTTPException(503, "the log could not be read in time; try again") from exc
    if not result.events_used:
        raise NotFound(f"the log holds no events of client {body.client_id}")
    metrics.replayed("no_invoice" if result.issued is None else
                     "matches" if result.difference.matches else "differs")  # fmt: skip
    return views.replay_read(result, read)


@router.post("/what-if", responses=ERRORS)
async def what_if_terms(body: WhatIfCreate, store: Store, _: Staff) -> WhatIfRead:
    """The month recomputed under other terms, next to the actual ones."""
    client = await commands.facts(store.pool, store.schema, body.client_id)
    if client.registration is None:
        raise Rejected(f"the terms of client {body.client_id} are not known yet")
    result = what_if(client, body.period, body.plan, body.email_handling)
    return WhatIfRead(
        client_id=body.client_id, period=body.period, actual=views.draft_read(result.actual),
        hypothetical=views.draft_read(result.hypothetical),
        difference_cents=result.difference_cents,
    )  # fmt: skip
