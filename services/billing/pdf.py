"""Invoice and credit-note documents: their data in the client's language, rendered with fpdf2."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.fonts import TTFFont

from services.billing import fonts
from services.billing.domain.calendar import first_day, last_day, local_date
from services.billing.domain.money import euros
from services.billing.schemas import BureauRead, DocumentLineView, InvoiceDocument, SpecifiedCall
from services.billing.settings import BillingSettings
from services.billing.texts import PDF_LABELS, reason_text

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
LABELS: dict[str, dict[str, str]] = {
    "en": {"invoice": "Invoice", "credit_note": "Credit note", "number": "Number",
           "date": "Date", "due": "Due date", "period": "Period", "to": "Invoice to",
           "description": "Description", "quantity": "Qty", "unit": "Unit price",
           "amount": "Amount", "subtotal": "Subtotal", "vat": "VAT", "total": "Total",
           "vat_number": "VAT number", "iban": "IBAN", "corrects": "Corrects invoice",
           "terms": "Please pay EUR {total} within {days} days to {iban}, quoting {number}.",
           "credit_terms": "EUR {total} is credited to you against invoice {original}."},
    "nl": {"invoice": "Factuur", "credit_note": "Creditnota", "number": "Nummer",
           "date": "Datum", "due": "Vervaldatum", "period": "Periode", "to": "Factuur aan",
           "description": "Omschrijving", "quantity": "Aantal", "unit": "Prijs",
           "amount": "Bedrag", "subtotal": "Subtotaal", "vat": "btw", "total": "Totaal",
           "vat_number": "Btw-nummer", "iban": "IBAN", "corrects": "Corrigeert factuur",
           "terms": "Gelieve EUR {total} binnen {days} dagen over te maken op {iban} "
                    "o.v.v. {number}.",
           "credit_terms": "EUR {total} wordt u gecrediteerd op factuur {original}."},
    "de": {"invoice": "Rechnung", "credit_note": "Gutschrift", "number": "Nummer",
           "date": "Datum", "due": "Fällig am", "period": "Zeitraum", "to": "Rechnung an",
           "description": "Beschreibung", "quantity": "Menge", "unit": "Einzelpreis",
           "amount": "Betrag", "subtotal": "Zwischensumme", "vat": "MwSt.", "total": "Gesamt",
           "vat_number": "USt-IdNr.", "iban": "IBAN", "corrects": "Korrigiert Rechnung",
           "terms": "Bitte zahlen Sie EUR {total} innerhalb von {days} Tagen auf {iban} "
                    "unter Angabe von {number}.",
           "credit_terms": "EUR {total} werden Ihnen zu Rechnung {original} gutgeschrieben."},
    "fr": {"invoice": "Facture", "credit_note": "Avoir", "number": "Numéro",
           "date": "Date", "due": "Échéance", "period": "Période", "to": "Facturé à",
           "description": "Description", "quantity": "Qté", "unit": "Prix unitaire",
           "amount": "Montant", "subtotal": "Sous-total", "vat": "TVA", "total": "Total",
           "vat_number": "N° TVA", "iban": "IBAN", "corrects": "Corrige la facture",
           "terms": "Merci de régler EUR {total} sous {days} jours sur {iban} "
                    "en indiquant {number}.",
           "credit_terms": "EUR {total} vous est crédité sur la facture {original}."},
}  # fmt: skip


def bureau(settings: BillingSettings) -> BureauRead:
    """The bureau's details from the billing settings."""
    return BureauRead(
        name=settings.bureau_name,
        address=[line for line in settings.bureau_address.splitlines() if line.strip()],
        vat_number=settings.bureau_vat_number,
        kvk_number=settings.bureau_kvk_number,
        iban=settings.bureau_iban,
        email=settings.bureau_email,
    )


def document_view(
    data: dict[str, Any], client: dict[str, Any], settings: BillingSettings,
    original_number: str | None = None, specification: list[SpecifiedCall] | None = None,
) -> InvoiceDocument:  # fmt: skip
    """The printed content of a stored invoice or credit note event, in the client's language."""
    language = client["language"] if client["language"] in LABELS else "en"
    details = _details(client)
    labels = {**LABELS[language], **PDF_LABELS[language]}
    kind = "credit_note" if data["type"] == "CreditNoteIssued" else "invoice"
    number = data.get("invoice_number") or data["credit_note_number"]
    issued = local_date(datetime.fromisoformat(data["occurred_at"]))
    due = issued + timedelta(days=settings.payment_terms_days) if kind == "invoice" else None
    total = euros(data["total_cents"])
    terms = labels["terms" if kind == "invoice" else "credit_terms"].format(
        total=total, days=settings.payment_terms_days, iban=settings.bureau_iban,
        number=number, original=original_number or "",
    )  # fmt: skip
    return InvoiceDocument(
        kind=kind, language=language, labels=labels, number=number, issue_date=issued,
        due_date=due, period=data["period"], original_number=original_number,
        bureau=bureau(settings), client_name=details.get("legal_name") or client["name"],
        client_email=client["contact_email"],
        lines=[DocumentLineView.model_validate(line) for line in data["lines"]],
        subtotal_cents=data["subtotal_cents"], vat_rate_percent=data["vat_rate_percent"],
        vat_cents=data["vat_cents"], total_cents=data["total_cents"], payment_terms=terms,
        document_id=data.get("invoice_id") or data.get("credit_note_id"),
        client_id=data["client_id"], client_country=details.get("country", settings.client_country),
        client_vat_number=details.get("vat_number"), client_address=_address_of(details),
        client_kvk_number=details.get("kvk_number"),
        period_start=first_day(data["period"]), period_end=last_day(data["period"]),
        specification=specification or [],
    )  # fmt: skip


class _Pdf(FPDF):
    """An A4 page with a Unicode font when one is available."""

    def __init__(self, font_path: str | None) -> None:
        super().__init__(format="A4")
        self.family = "Helvetica"
        if font_path and Path(font_path).is_file():
            self.add_font("Body", "", font_path)
            self.family = "Body"
            font = self.fonts["body"]
            if isinstance(font, TTFFont):
                # The embedded subset keeps each glyph's outline and box as the file has them;
                # recomputing every box (fontTools' default) was a fifth of a PDF's time.
                font.ttfont.recalcBBoxes = False
        self.set_auto_page_break(auto=True, margin=20)

    def text_of(self, text: str) -> str:
        """Text the font can show (Helvetica knows Latin-1 only)."""
        if self.family == "Body":
            return text
        return text.encode("latin-1", "replace").decode("latin-1")

    def line_of(self, text: str, size: float = 10, height: float = 5, **kwargs: Any) -> None:
        """One line of text across the page."""
        self.set_font(self.family, size=size)
        self.cell(0, height, self.text_of(text), new_x="LMARGIN", new_y="NEXT", **kwargs)


def render(document: InvoiceDocument, font_path: str | None) -> bytes:
    """The document as a PDF."""
    pdf = _Pdf(fonts.font_for(document.model_dump_json(), font_path) if font_path else None)
    labels = document.labels
    title = f"{labels[document.kind]} {document.number}"
    pdf.set_title(title)
    pdf.set_subject(title)
    pdf.set_creator("Frontdesk billing")
    pdf.add_page()
    _header(pdf, document, title)
    _lines(pdf, document)
    _totals(pdf, document)
    pdf.ln(6)
    pdf.set_font(pdf.family, size=9)
    pdf.multi_cell(0, 5, pdf.text_of(document.payment_terms))
    if document.kind == "invoice":
        _appendix(pdf, document)
    return bytes(pdf.output())


def _header(pdf: _Pdf, document: InvoiceDocument, title: str) -> None:
    b, labels = document.bureau, document.labels
    pdf.line_of(b.name, size=14, height=7)
    for line in [
        *b.address,
        f"{labels['kvk']}: {b.kvk_number}",
        f"{labels['vat_number']}: {b.vat_number}",
        f"{labels['iban']}: {b.iban}",
    ]:
        pdf.line_of(line, size=9, height=4.5)
    pdf.ln(6)
    pdf.line_of(title, size=16, height=9)
    facts = [(labels["date"], document.issue_date.isoformat()), (labels["period"], document.period)]
    if document.period_start is not None and document.period_end is not None:
        supply = f"{document.period_start.isoformat()} – {document.period_end.isoformat()}"
        facts.append((labels["supply"], supply))
    if document.due_date is not None:
        facts.append((labels["due"], document.due_date.isoformat()))
    if document.original_number:
        facts.append((labels["corrects"], document.original_number))
    for name, value in facts:
        pdf.line_of(f"{name}: {value}", size=10)
    pdf.ln(3)
    pdf.line_of(f"{labels['to']}:", size=10)
    for line in _client_lines(document):
        pdf.line_of(line, size=10)
    pdf.ln(4)


def _client_lines(document: InvoiceDocument) -> list[str]:
    """The client as its billing details name it (else its name), its address and e-mail,
    its VAT and KvK numbers when known."""
    lines = [document.client_name, *document.client_address, document.client_email]
    if document.client_vat_number:
        lines.append(f"{document.labels['client_vat']}: {document.client_vat_number}")
    if document.client_kvk_number:
        lines.append(f"{document.labels['kvk']}: {document.client_kvk_number}")
    return lines


def _details(client: dict[str, Any]) -> dict[str, Any]:
    """The client's billing details from intake ({} while none were given)."""
    raw = client.get("billing_details")
    if raw is None:
        return {}
    found = json.loads(raw) if isinstance(raw, str) else raw
    return dict(found) if isinstance(found, dict) else {}


def _address_of(details: dict[str, Any]) -> list[str]:
    """The postal address as printed: its lines, then postcode and city."""
    if not details:
        return []
    return [*details.get("address_lines", []), f"{details['postcode']}  {details['city']}"]


WIDTHS = (100, 16, 32, 32)


def _lines(pdf: _Pdf, document: InvoiceDocument) -> None:
    labels = document.labels
    pdf.set_font(pdf.family, size=9)
    heads = (labels["description"], labels["quantity"], labels["unit"], labels["amount"])
    for width, head, align in zip(WIDTHS, heads, "LRRR", strict=True):
        pdf.cell(width, 6, pdf.text_of(head), border="B", align=align)
    pdf.ln(6)
    for line in document.lines:
        _line(pdf, line)


def _line(pdf: _Pdf, line: DocumentLineView) -> None:
    x, y = pdf.get_x(), pdf.get_y()
    pdf.multi_cell(WIDTHS[0], 5, pdf.text_of(line.description))
    bottom = pdf.get_y()
    pdf.set_xy(x + WIDTHS[0], y)
    values = (str(line.quantity), euros(line.unit_price_cents), euros(line.amount_cents))
    for width, value in zip(WIDTHS[1:], values, strict=True):
        pdf.cell(width, 5, value, align="R")
    pdf.set_xy(x, max(bottom, y + 5))


def _totals(pdf: _Pdf, document: InvoiceDocument) -> None:
    labels = document.labels
    pdf.ln(3)
    rows = [
        (labels["subtotal"], document.subtotal_cents),
        (f"{labels['vat']} {document.vat_rate_percent}%", document.vat_cents),
        (labels["total"], document.total_cents),
    ]
    for name, cents in rows:
        pdf.set_font(pdf.family, size=10)
        pdf.cell(sum(WIDTHS[:3]), 6, pdf.text_of(name), align="R")
        pdf.cell(WIDTHS[3], 6, f"EUR {euros(cents)}", align="R", new_x="LMARGIN", new_y="NEXT")


APPENDIX_WIDTHS = (45, 40, 30, 65)


def _appendix(pdf: _Pdf, document: InvoiceDocument) -> None:
    """A page listing every call of the invoice: billed at a rate, or the reason it was not."""
    labels = document.labels
    pdf.add_page()
    pdf.line_of(f"{labels['appendix']} – {labels['invoice']} {document.number}", 12, 7)
    pdf.ln(2)
    if not document.specification:
        pdf.line_of(labels["no_calls"], size=9)
        return
    heads = (labels["when"], labels["caller"], labels["rate"], labels["status"])
    pdf.set_font(pdf.family, size=8)
    for width, head in zip(APPENDIX_WIDTHS, heads, strict=True):
        pdf.cell(width, 5, pdf.text_of(head), border="B")
    pdf.ln(5)
    for call in document.specification:
        when = local_time_text(call.received_at)
        rate = f"EUR {euros(call.rate_cents)}" if call.billed else ""
        why = (
            labels["billed"] if call.billed
            else f"{labels['why']}: {reason_text(call.reason, document.language)}"
        )  # fmt: skip
        values = tuple(pdf.text_of(value) for value in (when, call.caller, rate, why))
        _row(pdf, APPENDIX_WIDTHS, values, 4.5)


def _row(pdf: _Pdf, widths: tuple[int, ...], values: tuple[str, ...], height: float) -> None:
    """One line of left-aligned borderless cells, placed exactly where `cell()` puts them.

    A call appendix has a hundred rows or more; fpdf2's `cell()` lays each text out as
    styled fragments, which made up most of a PDF's rendering time; `text()` writes it.
    """
    if pdf.y + height > pdf.page_break_trigger:
        pdf.add_page()
    baseline = pdf.y + 0.5 * height + 0.3 * pdf.font_size
    x = pdf.x
    for width, value in zip(widths, values, strict=True):
        if value:
            pdf.text(x + pdf.c_margin, baseline, value)
        x += width
    pdf.ln(height)


def local_time_text(instant: datetime) -> str:
    """An instant as Amsterdam wall-clock time, to the minute."""
    return instant.astimezone(AMSTERDAM).strftime("%Y-%m-%d %H:%M")
