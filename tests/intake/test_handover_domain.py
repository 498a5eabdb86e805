"""The secretary book's hand-over (pure): refused while an invoice is open, naming each;
released, every version oldest first, once everything is paid or credited; the PDF carries
every version's text in the client's language."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from libs.errors import Conflict
from libs.events import Language
from services.intake.domain.handover import (
    Document,
    Outstanding,
    Version,
    machine_readable,
    open_invoices,
    release,
)
from services.intake.handover_pdf import render

AT = datetime(2027, 1, 20, 10, tzinfo=UTC)
V1 = Version(1, AT - timedelta(days=200), {"greeting": "Bakker, goedemorgen", "faq": [],
             "urgency_rules": [], "escalation_contacts": [], "temporary_instructions": [],
             "after_hours": "call_back", "instructions": "", "calendar_url": None})  # fmt: skip
V2 = Version(2, AT - timedelta(days=30), {**V1.content, "greeting": "Bakker, goedemiddag",
             "urgency_rules": [{"kind": "leak", "description": "Waterlekkage",
                                "channels": ["sms"], "ack_timeout_seconds": 600}]})  # fmt: skip


def invoice(number: str, total: int, paid: int = 0, credited: int = 0) -> Document:
    return Document(number, total, paid, credited, AT - timedelta(days=40))


def test_an_open_invoice_refuses_the_hand_over_and_names_what_is_open() -> None:
    documents = [invoice("2026-000010", 6171, paid=6171), invoice("2026-000011", 2420, paid=1000)]
    with pytest.raises(Outstanding) as refused:
        release(documents, [V1, V2])
    assert isinstance(refused.value, Conflict)
    assert refused.value.errors == ("invoice 2026-000011: EUR 14.20 open of EUR 24.20",)
    assert "1 open" in str(refused.value)


def test_paid_or_credited_invoices_release_every_version_oldest_first() -> None:
    documents = [
        invoice("2026-000010", 6171, paid=6171),
        invoice("2026-000011", 2420, credited=2420),
        invoice("2026-000012", 100, paid=150),
    ]
    assert open_invoices(documents) == []
    assert release(documents, [V2, V1]) == [V1, V2]
    with pytest.raises(Conflict):
        release(documents, [])


def test_the_machine_readable_form_holds_every_version() -> None:
    document = machine_readable("c-1", "Bakker", [V1, V2], AT)
    assert document["format"] == "frontdesk.secretary-book.v1"
    assert [v["book_version"] for v in document["versions"]] == [1, 2]
    assert document["versions"][1]["greeting"] == "Bakker, goedemiddag"
    json.dumps(document)


@pytest.mark.parametrize(
    ("language", "title", "version"),
    [
        ("nl", "Secretaresseboek van Bakker", "Versie 2"),
        ("en", "Secretary book of Bakker", "Version 2"),
        ("de", "Sekretariatsbuch von Bakker", "Fassung 2"),
        ("fr", "Cahier de secrétariat de Bakker", "Version 2"),
    ],
)
def test_the_pdf_shows_every_version_in_the_clients_language(
    language: Language, title: str, version: str
) -> None:
    text = "\n".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(render("Bakker", language, [V1, V2], AT))).pages
    )
    for part in (title, version, "Bakker, goedemorgen", "Bakker, goedemiddag", "Waterlekkage"):
        assert part in text, (part, text)
