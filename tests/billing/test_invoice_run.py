"""The invoice run in chunks of clients, in-process on a rolled-back transaction, mail on.

Every client is issued once, numbered gap-free in client order; each mail carries the PDF and
UBL file that the stored invoice renders to; a failure mid-run bills nothing twice.
"""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import pytest
from pypdf import PdfReader

from libs.events import CallReceived, new_id
from services.billing import commands, pdf, printing, ubl
from services.billing.commands import RunResult
from services.billing.domain.documents import run_period
from services.billing.domain.ledger import ClientFacts
from services.billing.reactions import input_topics
from services.billing.settings import BillingSettings
from tests.billing.history import STAFF, at, call, marked, registered, reported
from tests.billing.inproc import PREFIX, Billing

pytestmark = [pytest.mark.infra]
DECEMBER = "2026-12"
RUN_AT = at("2027-01-04T08:00:00")
CONFIG = BillingSettings()
LANGUAGES = ("nl", "en", "de", "fr")


async def _clients(billing: Billing, n: int) -> dict[UUID, list[CallReceived]]:
    """n clients, in the order a run takes them, each with three December calls reported and
    the first marked non-billable."""
    clients: dict[UUID, list[CallReceived]] = {}
    for i, client in enumerate(sorted(new_id() for _ in range(n))):
        calls = [call(client, f"2026-12-{8 + day:02d}T{9 + i % 5:02d}:00:00") for day in range(3)]
        await billing.consume(
            registered(client, "2026-12-07T08:00:00", language=LANGUAGES[i % 4]), *calls,
            reported(client, calls, "2026-12-10T16:15:00"),
            marked(calls[0], "wrong_number", "2026-12-11T08:00:00"),
        )  # fmt: skip
        clients[client] = calls
    return clients


async def _run(billing: Billing, period: str = DECEMBER) -> list[RunResult]:
    billing.now = RUN_AT if period == DECEMBER else at("2027-02-01T08:00:00")
    return await commands.run_invoices(
        billing.store, period, None, billing.now, input_topics(PREFIX), STAFF, CONFIG
    )


async def _count(billing: Billing, table: str, where: str = "true") -> int:
    found = await billing.conn.fetchval(
        f"SELECT count(*) FROM {billing.store.schema}.{table} WHERE {where}"
    )
    return int(found)


def _attachments(raw: bytes) -> dict[str, bytes]:
    mail = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    found: dict[str, bytes] = {}
    for part in mail.iter_attachments():
        content = part.get_content()
        assert isinstance(content, bytes)
        found[part.get_content_type()] = content
    return found


def _text(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


async def test_a_run_in_chunks_issues_each_client_once_in_order_with_its_own_documents(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "RUN_CHUNK", 2)
    clients = list(await _clients(billing, 5))
    results = await _run(billing)
    assert [(r.client_id, r.outcome) for r in results] == [(c, "issued") for c in clients]
    assert [r.invoice_number for r in results] == [f"2027-{n:06d}" for n in range(1, 6)]
    outgoing = await billing.conn.fetch(
        f"SELECT document_id, raw FROM {billing.store.schema}.outgoing WHERE kind = 'invoice'"
    )
    assert {r["document_id"] for r in outgoing} == {r.invoice_id for r in results}
    for row in outgoing:
        stored = await printing.printed(
            billing.conn, billing.store.schema, CONFIG, row["document_id"], "invoice", None
        )
        files = _attachments(row["raw"])
        assert files["application/xml"] == ubl.build(stored)
        assert _text(files["application/pdf"]) == _text(pdf.render(stored, CONFIG.pdf_font_path))
        assert len(stored.specification) == 3  # two billed, one marked wrong number
    again = await _run(billing)
    assert [(r.outcome, r.invoice_number) for r in again] == [
        ("already_issued", r.invoice_number) for r in results
    ]
    assert await _count(billing, "events", "event_type = 'InvoiceIssued'") == 5
    assert await _count(billing, "events", "event_type = 'InvoiceSent'") == 5
    assert await _count(billing, "outgoing") == 5


async def test_a_failure_mid_run_bills_nothing_twice_and_leaves_no_gap(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands, "RUN_CHUNK", 3)
    clients = list(await _clients(billing, 5))
    healthy = run_period

    def failing(client: ClientFacts, period: str) -> Any:
        if client.client_id == clients[1]:
            raise RuntimeError("the disk is full")
        return healthy(client, period)

    monkeypatch.setattr(commands, "run_period", failing)
    with pytest.raises(RuntimeError, match="disk is full"):
        await _run(billing)
    assert await _count(billing, "documents") == 1, "the client before the failure is issued"
    assert await _count(billing, "outgoing") == 1
    monkeypatch.setattr(commands, "run_period", healthy)
    results = await _run(billing)
    assert [r.outcome for r in results] == ["already_issued"] + ["issued"] * 4
    assert [r.invoice_number for r in results] == [f"2027-{n:06d}" for n in range(1, 6)]
    for client in clients:
        assert len(await billing.stream(client)) == 1
    assert await _count(billing, "outgoing") == 5


async def test_a_credit_note_in_a_chunked_run_is_mailed_naming_its_invoice(
    billing: Billing,
) -> None:
    calls = await _clients(billing, 2)
    first, second = calls
    [december, _] = await _run(billing)
    await billing.consume(marked(calls[first][1], "wrong_number", "2027-01-05T08:00:00"))
    january = {r.client_id: r for r in await _run(billing, "2027-01")}
    assert (january[first].outcome, january[second].outcome) == (
        "nothing_to_invoice", "nothing_to_invoice",
    )  # fmt: skip
    [note_id] = january[first].credit_note_ids
    [raw] = await billing.conn.fetch(
        f"SELECT raw FROM {billing.store.schema}.outgoing WHERE document_id = $1", note_id
    )
    [page] = _text(_attachments(raw["raw"])["application/pdf"])
    assert december.invoice_number is not None
    assert "CN-2027-000001" in page
    assert december.invoice_number in page
