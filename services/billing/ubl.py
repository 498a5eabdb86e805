"""The UBL 2.1 e-invoice (Peppol BIS Billing 3.0) of an invoice or credit note, built with lxml.

Elements follow the UBL 2.1 schema's sequence (a wrong order fails XSD validation). The seller
is the bureau (KvK as legal and electronic identifier, scheme 0106); the buyer is the client as
its billing details name it: legal name, street, postcode and city, VAT number, and its KvK
number as electronic address (0106; else its Dutch VAT number, 9944). A client without billing
details gets an EN 16931 invoice addressed to its e-mail (scheme EM), which Peppol's Dutch rules
do not take. A line with a negative unit price (a correction) is written as a negative quantity
at a positive price: EN 16931 forbids negative prices (BR-27), not negative lines.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

from services.billing.schemas import DocumentLineView, InvoiceDocument

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
KVK_SCHEME = "0106"
NL_VAT_SCHEME = "9944"
POSTCODE_CITY = re.compile(r"^(\d{4}\s?[A-Z]{2})\s+(.+)$")


def amount(cents: int) -> str:
    """Cents as a decimal amount with two places."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


class _Builder:
    """Appends UBL elements in order; `cbc`/`cac` return the new element."""

    def __init__(self, root_kind: str) -> None:
        self.root = etree.Element(
            etree.QName(NS[root_kind], "Invoice" if root_kind == "invoice" else "CreditNote"),
            nsmap={None: NS[root_kind], "cac": NS["cac"], "cbc": NS["cbc"]},
        )

    @staticmethod
    def cbc(parent: Any, tag: str, text: str, **attributes: str) -> Any:
        element = etree.SubElement(parent, etree.QName(NS["cbc"], tag), attributes)
        element.text = text
        return element

    @staticmethod
    def cac(parent: Any, tag: str) -> Any:
        return etree.SubElement(parent, etree.QName(NS["cac"], tag))


def build(document: InvoiceDocument) -> bytes:
    """The document as UBL XML (UTF-8, with declaration)."""
    b = _Builder(document.kind)
    _head(b, document)
    _parties(b, document)
    _payment(b, document)
    _tax_total(b, document)
    _totals(b, document)
    for index, line in enumerate(document.lines, start=1):
        _line(b, document, index, line)
    return bytes(etree.tostring(b.root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _head(b: _Builder, d: InvoiceDocument) -> None:
    r, invoice = b.root, d.kind == "invoice"
    b.cbc(r, "CustomizationID", CUSTOMIZATION_ID)
    b.cbc(r, "ProfileID", PROFILE_ID)
    b.cbc(r, "ID", d.number)
    b.cbc(r, "IssueDate", d.issue_date.isoformat())
    if invoice and d.due_date is not None:
        b.cbc(r, "DueDate", d.due_date.isoformat())
    b.cbc(r, "InvoiceTypeCode" if invoice else "CreditNoteTypeCode", "380" if invoice else "381")
    b.cbc(r, "DocumentCurrencyCode", "EUR")
    b.cbc(r, "BuyerReference", str(d.client_id) if d.client_id else d.number)
    if d.period_start is not None and d.period_end is not None:
        period = b.cac(r, "InvoicePeriod")
        b.cbc(period, "StartDate", d.period_start.isoformat())
        b.cbc(period, "EndDate", d.period_end.isoformat())
    if d.original_number:
        reference = b.cac(b.cac(r, "BillingReference"), "InvoiceDocumentReference")
        b.cbc(reference, "ID", d.original_number)


def _parties(b: _Builder, d: InvoiceDocument) -> None:
    seller = b.cac(b.cac(b.root, "AccountingSupplierParty"), "Party")
    bureau = d.bureau
    b.cbc(seller, "EndpointID", bureau.kvk_number, schemeID=KVK_SCHEME)
    b.cbc(b.cac(seller, "PartyName"), "Name", bureau.name)
    _address(b, seller, bureau.address, "NL")
    tax = b.cac(seller, "PartyTaxScheme")
    b.cbc(tax, "CompanyID", bureau.vat_number)
    b.cbc(b.cac(tax, "TaxScheme"), "ID", "VAT")
    legal = b.cac(seller, "PartyLegalEntity")
    b.cbc(legal, "RegistrationName", bureau.name)
    b.cbc(legal, "CompanyID", bureau.kvk_number, schemeID=KVK_SCHEME)
    contact = b.cac(seller, "Contact")
    b.cbc(contact, "ElectronicMail", bureau.email)
    buyer = b.cac(b.cac(b.root, "AccountingCustomerParty"), "Party")
    endpoint, scheme = _buyer_endpoint(d)
    b.cbc(buyer, "EndpointID", endpoint, **scheme)
    b.cbc(b.cac(buyer, "PartyName"), "Name", d.client_name)
    _address(b, buyer, d.client_address, d.client_country)
    if d.client_vat_number:
        tax = b.cac(buyer, "PartyTaxScheme")
        b.cbc(tax, "CompanyID", d.client_vat_number)
        b.cbc(b.cac(tax, "TaxScheme"), "ID", "VAT")
    legal = b.cac(buyer, "PartyLegalEntity")
    b.cbc(legal, "RegistrationName", d.client_name)
    if d.client_kvk_number:
        b.cbc(legal, "CompanyID", d.client_kvk_number, schemeID=KVK_SCHEME)
    b.cbc(b.cac(buyer, "Contact"), "ElectronicMail", d.client_email)


def _buyer_endpoint(d: InvoiceDocument) -> tuple[str, dict[str, str]]:
    """Where the buyer receives e-invoices: its KvK number (0106), else its Dutch VAT number
    (9944); e-mail (EM, which Peppol's code list no longer takes) only when neither is known."""
    if d.client_kvk_number:
        return d.client_kvk_number, {"schemeID": KVK_SCHEME}
    if d.client_vat_number and d.client_vat_number.startswith("NL"):
        return d.client_vat_number, {"schemeID": NL_VAT_SCHEME}
    return d.client_email, {"schemeID": "EM"}


def _address(b: _Builder, party: Any, lines: list[str], country: str) -> None:
    """Street, postcode and city from a Dutch address's lines, where they can be told apart."""
    address = b.cac(party, "PostalAddress")
    if lines:
        b.cbc(address, "StreetName", lines[0])
    found = next((m for m in map(POSTCODE_CITY.match, lines[1:]) if m), None)
    if found is not None:
        b.cbc(address, "CityName", found.group(2))
        b.cbc(address, "PostalZone", found.group(1))
    b.cbc(b.cac(address, "Country"), "IdentificationCode", country)


def _payment(b: _Builder, d: InvoiceDocument) -> None:
    if d.kind != "invoice":
        return
    means = b.cac(b.root, "PaymentMeans")
    b.cbc(means, "PaymentMeansCode", "58", name="SEPA credit transfer")
    b.cbc(means, "PaymentID", d.number)
    account = b.cac(means, "PayeeFinancialAccount")
    b.cbc(account, "ID", d.bureau.iban)
    b.cbc(account, "Name", d.bureau.name)
    b.cbc(b.cac(b.root, "PaymentTerms"), "Note", d.payment_terms)


def _category(b: _Builder, parent: Any, d: InvoiceDocument, name: str) -> None:
    category = b.cac(parent, name)
    b.cbc(category, "ID", "S" if d.vat_rate_percent > 0 else "Z")
    b.cbc(category, "Percent", str(d.vat_rate_percent))
    b.cbc(b.cac(category, "TaxScheme"), "ID", "VAT")


def _tax_total(b: _Builder, d: InvoiceDocument) -> None:
    total = b.cac(b.root, "TaxTotal")
    b.cbc(total, "TaxAmount", amount(d.vat_cents), currencyID="EUR")
    subtotal = b.cac(total, "TaxSubtotal")
    b.cbc(subtotal, "TaxableAmount", amount(d.subtotal_cents), currencyID="EUR")
    b.cbc(subtotal, "TaxAmount", amount(d.vat_cents), currencyID="EUR")
    _category(b, subtotal, d, "TaxCategory")


def _totals(b: _Builder, d: InvoiceDocument) -> None:
    totals = b.cac(b.root, "LegalMonetaryTotal")
    for name, cents in (
        ("LineExtensionAmount", d.subtotal_cents),
        ("TaxExclusiveAmount", d.subtotal_cents),
        ("TaxInclusiveAmount", d.total_cents),
        ("PayableAmount", d.total_cents),
    ):
        b.cbc(totals, name, amount(cents), currencyID="EUR")


def _line(b: _Builder, d: InvoiceDocument, index: int, line: DocumentLineView) -> None:
    invoice = d.kind == "invoice"
    element = b.cac(b.root, "InvoiceLine" if invoice else "CreditNoteLine")
    quantity, price = line.quantity, line.unit_price_cents
    if price < 0:
        quantity, price = -quantity, -price
    b.cbc(element, "ID", str(index))
    b.cbc(element, "InvoicedQuantity" if invoice else "CreditedQuantity", str(quantity),
          unitCode="C62")  # fmt: skip
    b.cbc(element, "LineExtensionAmount", amount(line.amount_cents), currencyID="EUR")
    item = b.cac(element, "Item")
    b.cbc(item, "Name", line.description[:200])
    _category(b, item, d, "ClassifiedTaxCategory")
    b.cbc(b.cac(element, "Price"), "PriceAmount", amount(price), currencyID="EUR")
