"""InvoiceIssued version 1 payloads, as committed before version 2, still decode."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from libs.events import InvoiceIssued, decode, encode
from libs.events.schema_export import committed_schemas
from tests.events.samples import all_samples

V1_SCHEMA = json.loads(committed_schemas()["InvoiceIssued.v1.json"])


def _v1(**changes: Any) -> dict[str, Any]:
    """The sample invoice as version 1 wrote it: no purpose, no billing-stream position."""
    invoice = next(e for e in all_samples() if isinstance(e, InvoiceIssued))
    raw = json.loads(encode(invoice))
    del raw["purpose"], raw["billing_stream_position"]
    raw = {**raw, "schema_version": 1, **changes}
    Draft202012Validator(V1_SCHEMA).validate(raw)
    return raw


def test_a_v1_monthly_invoice_is_upcast_with_an_unknown_stream_position() -> None:
    event = decode(json.dumps(_v1()))
    assert isinstance(event, InvoiceIssued)
    assert (event.schema_version, event.purpose) == (2, "monthly")
    assert event.billing_stream_position is None


def test_a_v1_invoice_for_punch_card_credit_is_a_top_up() -> None:
    credit = {"kind": "punch_card_credit", "description": "Strippenkaarttegoed",
              "period": "2026-01", "quantity": 1, "unit_price_cents": 5000,
              "amount_cents": 5000}  # fmt: skip
    raw = _v1(lines=[credit], subtotal_cents=5000, vat_cents=1050, total_cents=6050)
    event = decode(json.dumps(raw))
    assert isinstance(event, InvoiceIssued)
    assert event.purpose == "top_up"


def test_a_v2_invoice_keeps_what_it_says() -> None:
    invoice = next(e for e in all_samples() if isinstance(e, InvoiceIssued))
    assert decode(encode(invoice)) == invoice
    assert (invoice.schema_version, invoice.billing_stream_position) == (2, 3)
