"""A real billing process: a top-up and a payment repeated with their Idempotency-Key count once."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from libs.events import PunchCardPlan, new_id
from tests.billing.conftest import BillingStack
from tests.billing.history import registered
from tests.support.stack import expect

pytestmark = [pytest.mark.infra]


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid4())}


async def _punch_card_client(stack: BillingStack) -> UUID:
    client = new_id()
    joined = registered(client, "2025-12-01T08:00:00", PunchCardPlan())
    await stack.append([joined])
    await stack.until_billing_has([joined])
    return client


async def test_a_repeated_top_up_with_its_key_is_bought_once(stack: BillingStack) -> None:
    top_up, key = f"/clients/{await _punch_card_client(stack)}/punch-card", _key()
    bought = expect(await stack.http.post(top_up, json={"amount_cents": 400}, headers=key), 201)
    again = await stack.http.post(top_up, json={"amount_cents": 400}, headers=key)
    assert (again.status_code, again.json()) == (201, bought)
    assert expect(await stack.http.get(top_up), 200)["balance_cents"] == 400


async def test_a_repeated_payment_with_its_key_is_recorded_once(stack: BillingStack) -> None:
    client = await _punch_card_client(stack)
    top_up = {"amount_cents": 400}
    bought = expect(await stack.http.post(f"/clients/{client}/punch-card", json=top_up), 201)
    invoice = expect(await stack.http.get(f"/invoices/{bought['invoice_id']}"), 200)
    payments, key, body = (
        f"/invoices/{invoice['invoice_id']}/payments",
        _key(),
        {"amount_cents": 100},
    )
    paid = expect(await stack.http.post(payments, json=body, headers=key), 201)
    repeated = await stack.http.post(payments, json=body, headers=key)
    assert (repeated.status_code, repeated.json()) == (201, paid)
    other = await stack.http.post(payments, json={"amount_cents": 200}, headers=key)
    assert other.status_code == 422, other.text
    after = expect(await stack.http.get(f"/invoices/{invoice['invoice_id']}"), 200)
    assert after["paid_cents"] == 100
    assert after["outstanding_cents"] == invoice["total_cents"] - 100
    recorded = await stack.pool.fetchval(
        f"SELECT count(*) FROM {stack.schema}.events WHERE event_type = 'PaymentRecorded' "
        "AND client_id = $1",
        client,
    )
    assert recorded == 1


async def test_a_repeated_invoice_run_with_its_key_gets_the_first_answer(
    stack: BillingStack,
) -> None:
    client, key = new_id(), _key()
    body = {"period": "2026-01", "client_id": str(client)}
    refused = await stack.http.post("/invoices/run", json=body, headers=key)
    assert refused.status_code == 404  # not known yet; a refusal is not kept
    joined = registered(client, "2025-12-01T08:00:00")
    await stack.append([joined])
    await stack.until_billing_has([joined])
    ran = await stack.http.post("/invoices/run", json=body, headers=key)
    assert ran.status_code == 200, ran.text
    again = await stack.http.post("/invoices/run", json=body, headers=key)
    assert (again.status_code, again.json()) == (200, ran.json())
    assert again.headers["idempotent-replayed"] == "true"
