"""The billing service layer in-process: reactions and commands on a rolled-back transaction.

No processes and no Kafka: events of intake, calls and notify are handed to billing's reaction
handlers as the consumer would (one savepoint per message, with a log position), and the
commands run on an event store whose connection sits inside a transaction that every test
rolls back. The clock is fixed; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.errors import Conflict, Rejected
from libs.events import (
    CallReceived,
    InvoiceIssued,
    NotificationSent,
    PunchCardLow,
    PunchCardPlan,
    new_id,
)
from libs.events.catalogue import topic_for
from libs.platform import api_keys
from libs.platform.settings import Settings
from services.billing import commands, read_model
from services.billing.domain.ledger import BILLING_INPUTS
from services.billing.domain.replay import rebuild
from services.billing.reactions import (
    ADDRESSEE_RECORDS,
    MAIL_RECORDS,
    input_topics,
    reactions,
    subscriptions,
)
from services.billing.settings import BillingSettings
from tests.billing.history import STAFF, at, call, marked, registered, reported
from tests.billing.inproc import JANUARY, PREFIX, Billing

pytestmark = [pytest.mark.infra]


def _month(client: UUID, n: int, day: int = 5) -> tuple[list[CallReceived], NotificationSent]:
    """n January calls of a client and the digest that reported them."""
    calls = [call(client, f"2026-01-{day:02d}T{9 + i:02d}:00:00") for i in range(n)]
    return calls, reported(client, calls, f"2026-01-{day:02d}T16:15:00")


def _lines(invoice: dict[str, Any]) -> Iterator[tuple[str, str, int, int, int]]:
    for line in invoice["lines"]:
        yield (line["kind"], line["period"], line["quantity"], line["unit_price_cents"],
               line["amount_cents"])  # fmt: skip


async def test_a_month_of_usage_becomes_an_invoice_with_the_right_lines(
    billing: Billing,
) -> None:
    client = new_id()
    calls, digest = _month(client, 3)
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls, digest)
    [result] = await billing.run()
    assert (result.outcome, result.invoice_number, result.total_cents) == (
        "issued", "2026-000001", 6171,
    )  # fmt: skip
    invoice = await billing.document(result.invoice_id)
    # Setup fee 4500 + 3 calls x 200 = 5100; VAT 21% = 1071.
    assert sorted(_lines(invoice)) == [
        ("calls", JANUARY, 3, 200, 600), ("setup_fee", JANUARY, 1, 4500, 4500),
    ]  # fmt: skip
    [calls_line] = [line for line in invoice["lines"] if line["kind"] == "calls"]
    assert calls_line["call_ids"] == [str(c.call_id) for c in calls]
    assert invoice["purpose"] == "monthly"
    assert {(p["topic"], p["offset"]) for p in invoice["computed_from"]} == {
        (topic_for("intake", PREFIX), 0), (topic_for("calls", PREFIX), 2),
        (topic_for("notify", PREFIX), 0),
    }  # fmt: skip
    [issued] = await billing.stream(client)
    assert isinstance(issued, InvoiceIssued)
    assert (issued.purpose, issued.billing_stream_position) == ("monthly", 0)


async def test_a_second_run_issues_nothing_twice(billing: Billing) -> None:
    first, second = new_id(), new_id()
    for client in (first, second):
        calls, digest = _month(client, 2)
        await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls, digest)
    issued = {r.client_id: r for r in await billing.run()}
    again = {r.client_id: r for r in await billing.run()}
    assert {r.outcome for r in issued.values()} == {"issued"}
    assert {r.outcome for r in again.values()} == {"already_issued"}
    for client in (first, second):
        assert again[client].invoice_number == issued[client].invoice_number
        assert len(await billing.stream(client)) == 1
    assert sorted(r.invoice_number or "" for r in issued.values()) == [
        "2026-000001", "2026-000002",
    ]  # fmt: skip
    with pytest.raises(Rejected, match="has not ended"):
        await billing.run("2026-02")


async def test_a_non_billable_or_unreported_call_is_not_on_the_invoice(billing: Billing) -> None:
    client = new_id()
    calls, digest = _month(client, 3)
    unreported = call(client, "2026-01-20T10:00:00")
    wrong = marked(calls[0], "wrong_number", "2026-01-06T08:00:00")
    await billing.consume(
        registered(client, "2025-12-01T08:00:00"), *calls, digest, unreported, wrong
    )
    [result] = await billing.run()
    invoice = await billing.document(result.invoice_id)
    [calls_line] = [line for line in invoice["lines"] if line["kind"] == "calls"]
    assert calls_line["call_ids"] == [str(c.call_id) for c in calls[1:]]
    assert (calls_line["quantity"], calls_line["amount_cents"]) == (2, 400)
    assert result.total_cents == 4900 + 1029  # setup 4500 + 2 x 200, VAT 21%


async def test_a_mark_after_the_invoice_becomes_a_credit_note_the_replay_leaves_out(
    billing: Billing,
) -> None:
    client = new_id()
    calls, digest = _month(client, 2)
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls, digest)
    [january] = await billing.run()
    billing.now = at("2026-02-10T09:00:00")
    february_call = call(client, "2026-02-09T10:00:00")
    await billing.consume(
        marked(calls[0], "wrong_number", "2026-02-09T09:00:00"),
        february_call, reported(client, [february_call], "2026-02-09T16:15:00"),
    )  # fmt: skip
    billing.now = at("2026-03-01T09:00:00")
    [february] = await billing.run("2026-02")
    [note_id] = february.credit_note_ids
    note = await billing.document(note_id, "credit_note")
    assert (note["original_invoice_id"], note["total_cents"]) == (str(january.invoice_id), 242)
    assert note["credit_note_number"] == "CN-2026-000001"
    assert await read_model.settled(billing.conn, billing.store.schema, january.invoice_id) == (
        0, 242,
    )  # fmt: skip
    assert february.total_cents == 242  # the February call, 200 + VAT 42
    own = await billing.stream(client)
    assert [e.type for e in own] == ["InvoiceIssued", "CreditNoteIssued", "InvoiceIssued"]
    issued = own[-1]
    assert isinstance(issued, InvoiceIssued)
    assert issued.billing_stream_position == 1  # January's invoice, not this run's credit note
    replay = rebuild(billing.log(own), client, "2026-02", topic_for("billing", PREFIX))
    assert (replay.basis, replay.difference.matches) == ("invoice_positions", True)


async def test_the_punch_card_warns_once_when_it_runs_low(billing: Billing) -> None:
    client = new_id()
    card = PunchCardPlan(low_balance_threshold_cents=250)
    await billing.consume(registered(client, "2025-12-01T08:00:00", card))
    billing.now = at("2026-01-05T08:00:00")
    topped, invoice = await commands.buy_credit(
        billing.store, client, 400, billing.now, input_topics(PREFIX), STAFF
    )
    assert isinstance(invoice, InvoiceIssued)
    assert (invoice.purpose, invoice.billing_stream_position) == ("top_up", 1)
    assert invoice.subtotal_cents == 400 + 4500  # the credit and the setup fee
    first = call(client, "2026-01-05T09:00:00")
    first_mail = reported(client, [first], "2026-01-05T09:05:00", "per_call")
    billing.now = at("2026-01-05T09:06:00")
    await billing.consume(first, first_mail)
    second = call(client, "2026-01-05T09:30:00")
    billing.now = at("2026-01-05T09:36:00")
    await billing.consume(second, reported(client, [second], "2026-01-05T09:35:00", "per_call"))
    lows = [e for e in await billing.stream(client) if isinstance(e, PunchCardLow)]
    assert [(w.balance_cents, w.threshold_cents) for w in lows] == [(200, 250)]
    assert lows[0].causation_id == first_mail.event_id
    assert topped.type == "PunchCardToppedUp"


async def test_an_old_event_warns_about_nothing(billing: Billing) -> None:
    client = new_id()
    await billing.consume(registered(client, "2025-12-01T08:00:00", PunchCardPlan()))
    late = call(client, "2026-01-05T09:00:00")
    billing.now = at("2026-01-05T09:00:00") + timedelta(days=2)
    await billing.consume(late, reported(client, [late], "2026-01-05T09:05:00", "per_call"))
    assert await billing.stream(client) == []


async def test_a_payment_settles_the_invoice_and_no_more_is_taken(billing: Billing) -> None:
    client = new_id()
    calls, digest = _month(client, 1)
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls, digest)
    [result] = await billing.run()
    assert result.invoice_id is not None
    assert result.total_cents is not None
    await commands.pay(
        billing.store, result.invoice_id, result.total_cents, None, "", billing.now, STAFF
    )
    assert await read_model.settled(billing.conn, billing.store.schema, result.invoice_id) == (
        result.total_cents, 0,
    )  # fmt: skip
    with pytest.raises(Conflict, match="nothing outstanding"):
        await commands.pay(billing.store, result.invoice_id, 1, None, "", billing.now, STAFF)


def test_every_event_billing_folds_has_a_reaction() -> None:
    assert set(reactions(BillingSettings())) == BILLING_INPUTS | MAIL_RECORDS | ADDRESSEE_RECORDS
    assert not (MAIL_RECORDS | ADDRESSEE_RECORDS) & BILLING_INPUTS


def test_billing_subscription_keeps_api_keys_besides_what_it_folds() -> None:
    settings = Settings.model_validate({"service": "billing", "DATABASE_URL": "postgresql://-"})
    [subscription] = subscriptions(settings, BillingSettings())
    folded_or_kept = BILLING_INPUTS | MAIL_RECORDS | ADDRESSEE_RECORDS
    assert set(subscription.handlers) == folded_or_kept | set(api_keys.HANDLERS)
    assert not BILLING_INPUTS & set(api_keys.HANDLERS)


async def test_calls_dated_before_the_client_existed_are_no_terms_and_not_invoiced(
    billing: Billing, http: httpx.AsyncClient
) -> None:
    client = new_id()
    early = [call(client, f"{day}T09:00:00") for day in ("0001-01-01", "1900-06-01", "2025-11-20")]
    calls, digest = _month(client, 1)
    late_digest = reported(client, early, "2026-01-05T16:15:00")
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *early, *calls, digest,
                          late_digest)  # fmt: skip
    [result] = await billing.run()
    invoice = await billing.document(result.invoice_id)
    # Setup fee 4500 + the one January call 200 = 4700; VAT 987.
    assert sorted(_lines(invoice)) == [
        ("calls", JANUARY, 1, 200, 200), ("setup_fee", JANUARY, 1, 4500, 4500),
    ]  # fmt: skip
    assert result.total_cents == 5687
    billed = {c for line in invoice["lines"] for c in line["call_ids"]}
    assert billed == {str(calls[0].call_id)}
    for call_received in early:
        period = call_received.received_at.strftime("%Y-%m")
        usage = await http.get(f"/clients/{client}/usage", params={"period": period})
        if period < "2000-01":  # the API names months of years 2000-2999 only
            assert usage.status_code == 422
            continue
        body = usage.json()
        assert body["counts"] == {"no_terms": 1}
        [decision] = body["calls"]
        assert (decision["status"], decision["amount_cents"], decision["terms"]) == (
            "no_terms", 0, None,
        )  # fmt: skip
        assert "no terms" in decision["explanation"]
        assert body["statement"] is None
        assert body["next_invoice"] is None
    again = await billing.run()
    assert [r.outcome for r in again] == ["already_issued"]


async def test_money_in_an_api_body_is_a_json_integer(
    billing: Billing, http: httpx.AsyncClient
) -> None:
    client = new_id()
    calls, digest = _month(client, 1)
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls, digest)
    [result] = await billing.run()
    payments = f"/invoices/{result.invoice_id}/payments"
    for amount in ("100", True, 100.0, "1e2"):
        refused = await http.post(payments, json={"amount_cents": amount})
        assert refused.status_code == 422, (amount, refused.text)
        top_up = await http.post(f"/clients/{client}/punch-card", json={"amount_cents": amount})
        assert top_up.status_code == 422, (amount, top_up.text)
    assert len(await billing.stream(client)) == 1  # the invoice only: no payment was taken
    fixed = {"mode": "fixed_monthly", "monthly_amount_cents": "4999", "included_calls": 3}
    what_if = {"client_id": str(client), "period": JANUARY, "plan": fixed}
    assert (await http.post("/what-if", json=what_if)).status_code == 422
    fixed.update(monthly_amount_cents=4999, included_calls=True)
    assert (await http.post("/what-if", json=what_if)).status_code == 422
    card = {**what_if, "plan": {"mode": "punch_card", "low_balance_threshold_cents": False}}
    assert (await http.post("/what-if", json=card)).status_code == 422
    fee = {"enabled": True, "monthly_fee_cents": "1250"}
    per_call = {**what_if, "plan": {"mode": "per_call"}, "email_handling": fee}
    assert (await http.post("/what-if", json=per_call)).status_code == 422
    paid = await http.post(payments, json={"amount_cents": 100})
    assert paid.status_code == 201, paid.text
    assert paid.json()["outstanding_cents"] == (result.total_cents or 0) - 100
