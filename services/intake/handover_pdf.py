"""The secretary book handed over, as a PDF in the client's language (nl, en, de, fr): every
version, oldest first, with what it said. Rendered with fpdf2 in a Unicode font when one is
installed (DejaVu Sans), else in Helvetica with what Latin-1 can show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF

from libs.events import Language
from services.intake.domain.handover import Version

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
TEXTS: dict[Language, dict[str, str]] = {
    "nl": {"title": "Secretaresseboek", "of": "van", "exported": "Overgedragen op",
           "versions": "{n} versies, de oudste eerst", "version": "Versie {v}",
           "from": "geldig vanaf", "greeting": "Begroeting", "instructions": "Instructies",
           "faq": "Veelgestelde vragen", "urgency": "Dringend", "channels": "kanalen",
           "wait": "wachttijd op bevestiging", "contacts": "Contactpersonen bij spoed",
           "temporary": "Tijdelijke instructies", "after_hours": "Buiten kantoortijd",
           "calendar": "Agenda", "none": "geen", "until": "tot",
           "email_summary": "voicemail, samengevat per e-mail", "call_back": "wij bellen terug"},
    "en": {"title": "Secretary book", "of": "of", "exported": "Handed over on",
           "versions": "{n} versions, oldest first", "version": "Version {v}",
           "from": "in force from", "greeting": "Greeting", "instructions": "Instructions",
           "faq": "Frequently asked questions", "urgency": "Urgent", "channels": "channels",
           "wait": "wait for acknowledgement", "contacts": "Contacts when urgent",
           "temporary": "Temporary instructions", "after_hours": "After hours",
           "calendar": "Calendar", "none": "none", "until": "until",
           "email_summary": "voicemail, summed up by e-mail", "call_back": "we call back"},
    "de": {"title": "Sekretariatsbuch", "of": "von", "exported": "Übergeben am",
           "versions": "{n} Fassungen, die älteste zuerst", "version": "Fassung {v}",
           "from": "gültig ab", "greeting": "Begrüßung", "instructions": "Anweisungen",
           "faq": "Häufige Fragen", "urgency": "Dringend", "channels": "Kanäle",
           "wait": "Wartezeit auf Bestätigung", "contacts": "Ansprechpartner bei Dringendem",
           "temporary": "Vorübergehende Anweisungen", "after_hours": "Außerhalb der Bürozeiten",
           "calendar": "Kalender", "none": "keine", "until": "bis",
           "email_summary": "Mailbox, per E-Mail zusammengefasst",
           "call_back": "wir rufen zurück"},
    "fr": {"title": "Cahier de secrétariat", "of": "de", "exported": "Remis le",
           "versions": "{n} versions, la plus ancienne d'abord", "version": "Version {v}",
           "from": "en vigueur depuis le", "greeting": "Accueil", "instructions": "Consignes",
           "faq": "Questions fréquentes", "urgency": "Urgent", "channels": "canaux",
           "wait": "attente de confirmation", "contacts": "Contacts en cas d'urgence",
           "temporary": "Consignes temporaires", "after_hours": "Hors des heures d'ouverture",
           "calendar": "Agenda", "none": "aucune", "until": "jusqu'au",
           "email_summary": "messagerie, résumée par e-mail", "call_back": "nous rappelons"},
}  # fmt: skip


class _Pdf(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.unicode = Path(FONT).is_file() and Path(BOLD).is_file()
        if self.unicode:
            self.add_font("Body", "", FONT)
            self.add_font("Body", "B", BOLD)
        self.body = "Body" if self.unicode else "Helvetica"
        self.set_auto_page_break(auto=True, margin=18)

    def text_of(self, text: str) -> str:
        """Text the font can show."""
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def para(self, text: str, size: float = 10, bold: bool = False, space: float = 1) -> None:
        """A paragraph across the page, wrapped."""
        self.set_font(self.body, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, self.text_of(text), new_x="LMARGIN", new_y="NEXT")
        self.ln(space)


def render(
    client_name: str, language: Language, versions: Sequence[Version], at: datetime
) -> bytes:
    """Every version of the book, as a PDF."""
    t = TEXTS.get(language, TEXTS["nl"])
    pdf = _Pdf()
    title = f"{t['title']} {t['of']} {client_name}"
    pdf.set_title(pdf.text_of(title))
    pdf.set_creator("Frontdesk intake")
    pdf.add_page()
    pdf.para(title, 16, bold=True, space=2)
    pdf.para(f"{t['exported']} {at:%Y-%m-%d %H:%M} UTC · {t['versions'].format(n=len(versions))}")
    for version in versions:
        _version(pdf, t, version)
    return bytes(pdf.output())


def _version(pdf: _Pdf, t: dict[str, str], version: Version) -> None:
    book: dict[str, Any] = version.content
    pdf.ln(3)
    since = f"{version.revised_at:%Y-%m-%d %H:%M} UTC"
    heading = f"{t['version'].format(v=version.book_version)} · {t['from']} {since}"
    pdf.para(heading, 13, bold=True, space=2)
    pdf.para(t["greeting"], bold=True, space=0)
    pdf.para(str(book.get("greeting", "")))
    if book.get("instructions"):
        pdf.para(t["instructions"], bold=True, space=0)
        pdf.para(str(book["instructions"]))
    faq = book.get("faq") or []
    if faq:
        pdf.para(t["faq"], bold=True, space=0)
        for entry in faq:
            pdf.para(f"{entry.get('question', '')}\n    {entry.get('answer', '')}")
    rules = book.get("urgency_rules") or []
    pdf.para(t["urgency"], bold=True, space=0)
    if not rules:
        pdf.para(t["none"])
    for rule in rules:
        channels = ", ".join(rule.get("channels", []))
        pdf.para(
            f"{rule.get('kind', '')}: {rule.get('description', '')} ({t['channels']}: {channels}; "
            f"{t['wait']}: {rule.get('ack_timeout_seconds', 600) // 60} min)"
        )
    contacts = book.get("escalation_contacts") or []
    if contacts:
        pdf.para(t["contacts"], bold=True, space=0)
        for n, contact in enumerate(contacts, start=1):
            reach = " · ".join(
                str(contact[k]) for k in ("phone", "email", "chat_webhook_url") if contact.get(k)
            )
            pdf.para(f"{n}. {contact.get('name', '')}: {reach}")
    temporary = book.get("temporary_instructions") or []
    if temporary:
        pdf.para(t["temporary"], bold=True, space=0)
        for item in temporary:
            until = str(item.get("valid_until", ""))[:16].replace("T", " ")
            pdf.para(f"{item.get('text', '')} ({t['until']} {until} UTC)")
    after = str(book.get("after_hours", ""))
    pdf.para(f"{t['after_hours']}: {t.get(after, after)}")
    if book.get("calendar_url"):
        pdf.para(f"{t['calendar']}: {book['calendar_url']}")
