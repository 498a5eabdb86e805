"""The intake process handing the secretary book over: refused with a 409 naming each open
invoice while billing's invoice is unpaid (intake learns it from billing's topic); released
after the payment, every version, as a PDF in the client's language and as JSON, recorded."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from pypdf import PdfReader

from libs.events import DocumentLine, InvoiceIssued, LogPosition, PaymentRecorded, new_id
from libs.events.intake import BillingDetailsChanged, BookHandedOver
from tests.support.pipeline import wait_until
from tests.support.stack import (
    Infrastructure,
    Stack,
    expect,
    private_world,
    running_stack,
    topic_events,
)

pytestmark = [pytest.mark.infra]


@pytest.fixture(scope="module")
async def intake(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("handover")
    async with (
        private_world(infra, home) as world,
        running_stack(Stack, world, "services.intake.app:create_app", feeds=("billing",)) as stack,
    ):
        yield stack


async def client_with_two_books(http: httpx.AsyncClient) -> UUID:
    body = {"name": "Bakker Installatie", "contact_email": "jan@bakker.example", "language": "de"}
    client_id = UUID(expect(await http.post("/clients", json=body), 201)["client_id"])
    for greeting in ("Bakker, guten Morgen", "Bakker, guten Tag"):
        expect(await http.put(f"/clients/{client_id}/book", json={"greeting": greeting}), 200)
    return client_id


def invoice(client_id: UUID) -> InvoiceIssued:
    line = DocumentLine(
        kind="calls", description="Handled calls", period="2026-11", quantity=3,
        unit_price_cents=200, amount_cents=600, call_ids=(), event_ids=(),
    )  # fmt: skip
    return InvoiceIssued(
        client_id=client_id, occurred_at=datetime.now(UTC), invoice_id=new_id(),
        invoice_number="2026-000042", purpose="monthly", period="2026-11", lines=(line,),
        subtotal_cents=600, vat_cents=126, total_cents=726,
        computed_from=(LogPosition(topic="frontdesk.calls.v1", partition=0, offset=1),),
        billing_stream_position=1,
    )  # fmt: skip


async def hand_over(http: httpx.AsyncClient, client_id: UUID, form: str) -> httpx.Response:
    return await http.post(f"/clients/{client_id}/book/hand-over", json={"format": form})


async def test_the_book_is_handed_over_only_when_the_invoices_are_paid(intake: Stack) -> None:
    http = intake.http
    client_id = await client_with_two_books(http)
    issued = invoice(client_id)
    await intake.append([issued])

    async def known() -> bool:  # intake hears of invoices from billing's topic
        found = await intake.pool.fetchval(
            f"SELECT 1 FROM {intake.schema}.billing_invoices WHERE invoice_id = $1",
            issued.invoice_id,
        )
        return found is not None

    await wait_until(known, within=60, what="intake to learn of the open invoice")
    refused = await hand_over(http, client_id, "pdf")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["errors"] == ["invoice 2026-000042: EUR 7.26 open of EUR 7.26"]

    paid = PaymentRecorded(
        client_id=client_id, occurred_at=datetime.now(UTC), payment_id=new_id(),
        invoice_id=issued.invoice_id, amount_cents=726, paid_at=datetime.now(UTC),
    )  # fmt: skip
    await intake.append([paid])
    released: list[httpx.Response] = []

    async def settled() -> bool:
        response = await hand_over(http, client_id, "pdf")
        released[:] = [response]
        return response.status_code == 200

    await wait_until(settled, within=60, what="intake to learn of the payment")
    pdf = released[0]
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for part in ("Sekretariatsbuch von Bakker Installatie", "Fassung 1", "Fassung 2",
                 "Bakker, guten Morgen", "Bakker, guten Tag"):  # fmt: skip
        assert part in text, (part, text)
    document = expect(await hand_over(http, client_id, "json"), 200)
    assert [v["greeting"] for v in document["versions"]] == [
        "Bakker, guten Morgen",
        "Bakker, guten Tag",
    ]
    handed: list[BookHandedOver] = []

    async def both_relayed() -> bool:
        events = await topic_events(intake.world, "intake", unique=True)
        handed[:] = [
            e for e in events if isinstance(e, BookHandedOver) and e.client_id == client_id
        ]
        return len(handed) >= 2

    await wait_until(both_relayed, within=30, what="both hand-overs on intake's topic")
    assert sorted(e.format for e in handed) == ["json", "pdf"]
    assert {e.latest_version for e in handed} == {2}


async def test_bad_requests_change_nothing(intake: Stack) -> None:
    http = intake.http
    client_id = await client_with_two_books(http)
    assert (await hand_over(http, client_id, "docx")).status_code == 422
    assert (await hand_over(http, new_id(), "pdf")).status_code == 404
    events = await topic_events(intake.world, "intake", unique=True)
    assert not [e for e in events if isinstance(e, BookHandedOver) and e.client_id == client_id]


async def test_the_billing_details_are_recorded_for_the_invoices(intake: Stack) -> None:
    http = intake.http
    client_id = await client_with_two_books(http)
    path = f"/clients/{client_id}/billing-details"
    details = {"legal_name": "Bakker Installatie B.V.", "address_lines": ["Markt 1"],
               "postcode": "5211 AB", "city": "'s-Hertogenbosch", "vat_number": "NL001234567B01",
               "kvk_number": "87654321"}  # fmt: skip
    saved = expect(await http.put(path, json=details), 200)
    assert (saved["country"], saved["vat_number"]) == ("NL", "NL001234567B01")
    for bad in ({**details, "vat_number": "12345"}, {**details, "address_lines": []},
                {**details, "kvk_number": "1234"}, {**details, "fax": "no"},
                {**details, "legal_name": "Bakker\u0000B.V."},
                {**details, "address_lines": ["a\u0000"]}):  # fmt: skip
        assert (await http.put(path, json=bad)).status_code == 422
    lone_surrogate = json.dumps(details).replace("Markt 1", "\\ud891")  # JSON's own escape
    headers = {"Content-Type": "application/json"}
    assert (await http.put(path, content=lone_surrogate, headers=headers)).status_code == 422
    assert (await http.put(f"/clients/{new_id()}/billing-details", json=details)).status_code == 404
    recorded: list[BillingDetailsChanged] = []

    async def relayed() -> bool:
        events = await topic_events(intake.world, "intake", unique=True)
        recorded[:] = [e for e in events if isinstance(e, BillingDetailsChanged)]
        return bool(recorded)

    await wait_until(relayed, within=30, what="the billing details on intake's topic")
    assert [(e.client_id, e.legal_name, e.address_lines) for e in recorded] == [
        (client_id, "Bakker Installatie B.V.", ("Markt 1",))
    ]
