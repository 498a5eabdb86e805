"""A stored invoice or credit note as printed: its PDF and UBL content, with the call appendix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from libs.errors import NotFound
from libs.events.billing import InvoiceIssued
from libs.events.catalogue import encode
from services.billing import directory, pdf, read_model, ubl
from services.billing.domain.decisions import CallDecision
from services.billing.domain.documents import PeriodRun
from services.billing.domain.ledger import ClientFacts
from services.billing.domain.specification import specification
from services.billing.read_model import Queryable
from services.billing.schemas import InvoiceDocument, SpecifiedCall
from services.billing.settings import BillingSettings


async def printed(
    db: Queryable, schema: str, config: BillingSettings, document_id: UUID, kind: str,
    tenant: UUID | None,
) -> InvoiceDocument:  # fmt: skip
    """What the document's PDF and UBL file show (NotFound for another tenant's or none)."""
    row = await read_model.document(db, schema, document_id, kind, tenant=tenant)
    if row is None:
        raise NotFound(f"no {kind.replace('_', ' ')} {document_id}")
    return await printed_row(db, schema, config, row)


async def printed_row(
    db: Queryable, schema: str, config: BillingSettings, row: Any
) -> InvoiceDocument:
    """The printed content of a document row."""
    client = await directory.client_row(db, schema, row["client_id"])
    if client is None:
        raise NotFound(f"the client of document {row['document_id']} is not known")
    original = None
    if row["original_invoice_id"] is not None:
        found = await read_model.document(
            db, schema, row["original_invoice_id"], "invoice", tenant=None
        )
        original = found["number"] if found is not None else None
    data = read_model.payload(row)
    calls = await _specification(db, schema, row, data) if row["kind"] == "invoice" else []
    return pdf.document_view(data, client, config, original, calls)


async def _specification(
    db: Queryable, schema: str, row: Any, data: dict[str, Any]
) -> list[SpecifiedCall]:
    """The invoice's calls and the month's non-billable ones, as the appendix lists them."""
    facts, _ = await directory.load_client(db, schema, row["client_id"], ())
    return specified(facts, data)


def specified(
    facts: ClientFacts, data: dict[str, Any], decisions: Mapping[UUID, CallDecision] | None = None
) -> list[SpecifiedCall]:
    """The appendix of a stored invoice event (`data`) from its client's facts."""
    billed = {UUID(str(c)) for line in data["lines"] for c in line.get("call_ids", ())}
    lines = specification(facts, billed, data["period"], decisions)
    return [SpecifiedCall.model_validate(line, from_attributes=True) for line in lines]


def printed_invoice(
    event: InvoiceIssued, client: dict[str, Any], run: PeriodRun, facts: ClientFacts,
    config: BillingSettings,
) -> InvoiceDocument:  # fmt: skip
    """What `printed` shows of an invoice a run has just issued, from what the run has in
    hand: the event as stored, the client's row, its facts and the run's call decisions (an
    invoice corrects nothing, so it names no original)."""
    data = json.loads(encode(event))
    return pdf.document_view(data, client, config, None, specified(facts, data, run.decisions))


def files(document: InvoiceDocument, config: BillingSettings) -> tuple[bytes, bytes]:
    """The document's PDF and its UBL XML."""
    return pdf.render(document, config.pdf_font_path), ubl.build(document)


T = TypeVar("T")


async def offloaded(work: Callable[..., T], jobs: Sequence[tuple[Any, ...]]) -> list[T]:
    """`work(*job)` of every job, in order, in one worker thread (off the event loop)."""
    return await asyncio.to_thread(lambda: [work(*job) for job in jobs])
