"""The quote PDF in each of the four languages: its text read back from the PDF."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from libs.events import EmailHandling, Language, PerCallPlan
from libs.events.intake import QuoteIssued
from services.intake.quote_pdf import QuoteDocument, euros, render
from tests.intake.history import CLIENT

EXPECTED: dict[Language, tuple[str, ...]] = {
    "nl": ("Offerte", "Geldig tot en met", "Per gesprek", "Eenmalige opstartkosten"),
    "en": ("Quote", "Valid until", "Per call", "One-off setup fee"),
    "de": ("Angebot", "Gültig bis", "Pro Gespräch", "Einmalige Einrichtungsgebühr"),
    "fr": ("Devis", "Valable jusqu'au", "À l'appel", "Frais de mise en service uniques"),
}


@pytest.mark.parametrize("language", list(EXPECTED))
def test_the_quote_speaks_the_clients_language_and_names_the_amounts(language: Language) -> None:
    quote = QuoteIssued(client_id=CLIENT, occurred_at=datetime(2026, 12, 8, 9, tzinfo=UTC),
                        plan=PerCallPlan(), call_rate_cents=200, setup_fee_cents=4500,
                        email_handling=EmailHandling(), valid_until=date(2027, 1, 31))  # fmt: skip
    pdf = render(QuoteDocument("Bäckerei Müller", language, quote))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    for part in (*EXPECTED[language], "Bäckerei Müller", "31-01-2027", "EUR 2,00", "EUR 45,00"):
        assert part in text, (language, part)


def test_amounts_are_written_the_dutch_way() -> None:
    assert (euros(4500), euros(123456789)) == ("EUR 45,00", "EUR 1.234.567,89")
