"""The quote as a PDF in the client's language (nl, en, de, fr), rendered with fpdf2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from fpdf import FPDF

from libs.events import FixedMonthlyPlan, Language, PunchCardPlan
from libs.events.intake import QuoteIssued
from services.intake.domain.state import local_date

BUREAU = "Frontdesk Secretariaat B.V."
"""The bureau named on the quote (as billing names it on invoices by default)."""
TEXTS: dict[Language, dict[str, str]] = {
    "nl": {"title": "Offerte", "for": "Voor", "date": "Datum", "valid": "Geldig tot en met",
           "plan": "Gekozen abonnement", "per_call": "Per gesprek, maandelijks gefactureerd",
           "punch_card": "Strippenkaart (tegoed vooraf)",
           "fixed_monthly": "Vast maandbedrag {amount} incl. {calls} gesprekken",
           "rate": "Tarief per gesprek", "email": "E-mailafhandeling per maand",
           "setup": "Eenmalige opstartkosten", "vat": "Alle bedragen exclusief 21% btw.",
           "next": "Na ontvangst van het intakeformulier en de getekende algemene voorwaarden "
                   "hebben wij gemiddeld minder dan een halve werkdag nodig. "
                   "Geen opzegtermijn."},
    "en": {"title": "Quote", "for": "For", "date": "Date", "valid": "Valid until",
           "plan": "Chosen plan", "per_call": "Per call, invoiced monthly",
           "punch_card": "Punch card (credit paid in advance)",
           "fixed_monthly": "Fixed monthly amount {amount} incl. {calls} calls",
           "rate": "Rate per call", "email": "E-mail handling per month",
           "setup": "One-off setup fee", "vat": "All amounts exclude 21% VAT.",
           "next": "Once we have your intake form and the signed general terms we need on "
                   "average less than half a working day. No notice period."},
    "de": {"title": "Angebot", "for": "Für", "date": "Datum", "valid": "Gültig bis",
           "plan": "Gewählter Tarif", "per_call": "Pro Gespräch, monatlich abgerechnet",
           "punch_card": "Guthabenkarte (im Voraus bezahlt)",
           "fixed_monthly": "Fester Monatsbetrag {amount} inkl. {calls} Gespräche",
           "rate": "Preis pro Gespräch", "email": "E-Mail-Bearbeitung pro Monat",
           "setup": "Einmalige Einrichtungsgebühr", "vat": "Alle Beträge zzgl. 21% MwSt.",
           "next": "Sobald uns Ihr Aufnahmeformular und die unterschriebenen AGB vorliegen, "
                   "brauchen wir im Schnitt weniger als einen halben Arbeitstag. "
                   "Keine Kündigungsfrist."},
    "fr": {"title": "Devis", "for": "Pour", "date": "Date", "valid": "Valable jusqu'au",
           "plan": "Formule choisie", "per_call": "À l'appel, facturé chaque mois",
           "punch_card": "Carte prépayée (crédit payé d'avance)",
           "fixed_monthly": "Forfait mensuel {amount} incl. {calls} appels",
           "rate": "Tarif par appel", "email": "Traitement des e-mails par mois",
           "setup": "Frais de mise en service uniques", "vat": "Montants hors TVA de 21 %.",
           "next": "Dès réception de votre formulaire d'accueil et des conditions générales "
                   "signées, il nous faut en moyenne moins d'une demi-journée de travail. "
                   "Sans préavis de résiliation."},
}  # fmt: skip


@dataclass(frozen=True)
class QuoteDocument:
    """What the quote shows: whom it is for, in which language, and the quote itself."""

    client_name: str
    language: Language
    quote: QuoteIssued


def euros(cents: int) -> str:
    """EUR 1.234,50 in the Dutch way of writing amounts (the bureau's own)."""
    whole, rest = divmod(cents, 100)
    return f"EUR {whole:,}".replace(",", ".") + f",{rest:02d}"


def lines(doc: QuoteDocument) -> list[tuple[str, str]]:
    """The label and value of each line of the quote, in the client's language."""
    t, q = TEXTS[doc.language], doc.quote
    rows = [
        (t["for"], doc.client_name),
        (t["date"], _day(local_date(q.occurred_at))),
        (t["valid"], _day(q.valid_until)),
        (t["plan"], _plan(t, q)),
        (t["rate"], euros(q.call_rate_cents)),
        (t["setup"], euros(q.setup_fee_cents)),
    ]
    if q.email_handling.enabled:
        rows.append((t["email"], euros(q.email_handling.monthly_fee_cents)))
    return rows


def _plan(t: dict[str, str], quote: QuoteIssued) -> str:
    plan = quote.plan
    if isinstance(plan, FixedMonthlyPlan):
        return t["fixed_monthly"].format(
            amount=euros(plan.monthly_amount_cents), calls=plan.included_calls
        )
    return t["punch_card"] if isinstance(plan, PunchCardPlan) else t["per_call"]


def _day(day: date | datetime) -> str:
    return day.strftime("%d-%m-%Y")


def render(doc: QuoteDocument) -> bytes:
    """The quote as PDF bytes (core Helvetica: Latin-1 covers nl, en, de and fr)."""
    t = TEXTS[doc.language]
    pdf = FPDF(format="A4")
    pdf.set_title(f"{t['title']} {BUREAU}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, f"{t['title']} - {BUREAU}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for label, value in lines(doc):
        pdf.cell(70, 8, _latin1(label))
        pdf.cell(0, 8, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.multi_cell(0, 6, _latin1(t["vat"] + " " + t["next"]))
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    # the core fonts know Latin-1 only; a client name beyond it keeps its readable letters
    return text.encode("latin-1", "replace").decode("latin-1")
