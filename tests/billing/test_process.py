"""A real billing process consuming real topics: runs, numbering, rebuilds, replays, PDFs."""

from __future__ import annotations

import asyncio
import re
import zlib
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    EmailHandling,
    Event,
    FixedMonthlyPlan,
    PerCallPlan,
    PunchCardPlan,
    new_id,
)
from libs.events.envelope import Actor
from libs.platform.api_keys import new_key
from tests.billing.conftest import BillingStack
from tests.billing.history import call, marked, plan_changed, registered, reported
from tests.support.builders import now
from tests.support.pipeline import wait_until
from tests.support.stack import expect

pytestmark = [pytest.mark.infra]
PERIOD = "2026-01"


def _month(client: UUID, n: int, day: int = 5) -> list[Event]:
    """n January calls of a client, reported in that day's digest."""
    calls = [call(client, f"2026-01-{day:02d}T{9 + i:02d}:00:00") for i in range(n)]
    return [*calls, reported(client, calls, f"2026-01-{day:02d}T16:15:00")]


@pytest.fixture(scope="module")
async def january(stack: BillingStack) -> dict[str, Any]:
    """Three clients with a January of calls, known to billing."""
    a, b, c = new_id(), new_id(), new_id()
    email = EmailHandling(enabled=True, monthly_fee_cents=1250)
    fixed = FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=2)
    events: list[Event] = [
        registered(a, "2025-12-01T08:00:00", language="en"),
        registered(b, "2025-12-01T08:00:00", email=email, language="de"),
        registered(c, "2025-12-01T08:00:00", setup_fee_cents=0),
        plan_changed(c, "2025-12-20T08:00:00", date(2026, 1, 16), fixed),
        *_month(a, 3), *_month(b, 2), *_month(c, 2, day=5), *_month(c, 3, day=20),
    ]  # fmt: skip
    await stack.append(events)
    await stack.until_billing_has(events)
    return {"a": a, "b": b, "c": c, "events": events}


async def _run(stack: BillingStack, period: str = PERIOD, **extra: str) -> dict[str, Any]:
    response = await stack.http.post("/invoices/run", json={"period": period, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _invoice_of(stack: BillingStack, client: UUID, period: str = PERIOD) -> dict[str, Any]:
    found = (await stack.http.get("/invoices", params={"client_id": str(client)})).json()
    [summary] = [i for i in found if i["period"] == period and i["purpose"] == "monthly"]
    invoice: dict[str, Any] = (await stack.http.get(f"/invoices/{summary['invoice_id']}")).json()
    return invoice


def _now_text() -> str:
    return now().replace(tzinfo=None).isoformat()


def _sequence(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


async def test_two_concurrent_runs_issue_each_invoice_once_with_gap_free_numbers(
    stack: BillingStack, january: dict[str, Any]
) -> None:
    first, second = await asyncio.gather(_run(stack), _run(stack))
    outcomes = [r["outcome"] for r in first["results"] + second["results"]]
    assert outcomes.count("issued") == 3
    assert outcomes.count("already_issued") == 3
    invoices = (await stack.http.get("/invoices")).json()
    numbers = sorted(_sequence(i["invoice_number"]) for i in invoices)
    assert numbers == list(range(1, len(numbers) + 1))
    assert {i["invoice_number"][:5] for i in invoices} == {f"{now().year}-"}
    a = await _invoice_of(stack, january["a"])
    # A: 3 calls x 200 + setup 4500 = 5100; VAT 1071.
    assert (a["subtotal_cents"], a["vat_cents"], a["total_cents"]) == (5100, 1071, 6171)
    b = await _invoice_of(stack, january["b"])
    # B: 2 calls x 100 + e-mail handling 1250 (Dec: 1250 too, never invoiced) + setup 4500.
    assert b["subtotal_cents"] == 200 + 1250 + 1250 + 4500
    c = await _invoice_of(stack, january["c"])
    # C: 2 calls x 200 before the switch; 16-31 Jan fixed 5000*16/31 = 2581, 2*16/31 -> 1
    # call included, 2 extra x 200.
    assert c["subtotal_cents"] == 400 + 2581 + 400
    assert {p["topic"] for p in a["computed_from"]} == {
        stack.world.topic("intake"), stack.world.topic("calls"), stack.world.topic("notify")
    }  # fmt: skip
    calls = [line for line in a["lines"] if line["kind"] == "calls"]
    assert len(calls[0]["call_ids"]) == 3


async def test_the_invoice_pdf_and_its_data(stack: BillingStack, january: dict[str, Any]) -> None:
    await _run(stack)
    invoice = await _invoice_of(stack, january["b"])
    response = await stack.http.get(f"/invoices/{invoice['invoice_id']}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    body = response.content
    assert body.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", body)) == 2  # the invoice and its call appendix
    assert invoice["invoice_number"] in _pdf_text(body)
    data = (await stack.http.get(f"/invoices/{invoice['invoice_id']}.json")).json()
    assert (data["language"], data["labels"]["invoice"]) == ("de", "Rechnung")
    assert data["total_cents"] == invoice["total_cents"]
    assert data["bureau"]["iban"]
    assert (await stack.http.get(f"/invoices/{new_id()}.pdf")).status_code == 404


def _pdf_text(body: bytes) -> str:
    """Literal strings of the PDF (metadata included), with compressed streams inflated."""
    chunks = [body]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            continue
    text = b"\n".join(chunks)
    hexes = [bytes.fromhex(h.decode()) for h in re.findall(rb"<FEFF([0-9A-Fa-f]+)>", text)]
    decoded = [h.decode("utf-16-be", "replace") for h in hexes]
    return text.decode("latin-1") + "\n".join(decoded)


async def test_late_events_are_corrected_next_month_and_replays_reproduce_the_invoice(
    stack: BillingStack, january: dict[str, Any]
) -> None:
    await _run(stack)
    a = january["a"]
    issued = await _invoice_of(stack, a)
    a_calls = [e for e in january["events"] if e.client_id == a and e.type == "CallReceived"]
    late_call = call(a, "2026-01-25T09:00:00")
    late: list[Event] = [
        marked(a_calls[0], "wrong_number", _now_text()),
        late_call,
        reported(a, [late_call], _now_text()),
    ]
    await stack.append(late)
    await stack.until_billing_has(late)
    for body in ({}, {"as_of": issued["issued_at"]}):
        response = await stack.http.post(
            "/replays", json={"client_id": str(a), "period": PERIOD, **body}
        )
        replay = response.json()
        assert response.status_code == 200, replay
        assert replay["difference"]["matches"], replay["difference"]
        assert replay["issued"]["invoice_number"] == issued["invoice_number"]
        assert replay["basis"] == ("as_of" if body else "invoice_positions")
    usage = (await stack.http.get(f"/clients/{a}/usage", params={"period": PERIOD})).json()
    assert usage["counts"]["non_billable:wrong_number"] == 1
    [note] = usage["next_credit_notes"]
    assert (note["original_invoice_id"], note["total_cents"]) == (issued["invoice_id"], 242)
    february = await _run(stack, "2026-02", client_id=str(a))
    [result] = february["results"]
    assert (result["outcome"], result["total_cents"]) == ("issued", 242)  # late call 200 + 42
    assert len(result["credit_note_ids"]) == 1
    feb = await _invoice_of(stack, a, "2026-02")
    [line] = feb["lines"]
    assert (line["period"], line["corrects_invoice_id"]) == (PERIOD, issued["invoice_id"])
    assert line["call_ids"] == [str(late_call.call_id)]
    assert (await stack.http.get(f"/invoices/{issued['invoice_id']}")).json()[
        "credited_cents"
    ] == 242


async def test_punch_card_credit_is_invoiced_and_a_low_balance_is_announced(
    stack: BillingStack,
) -> None:
    client = new_id()
    joined = registered(
        client, "2025-12-01T08:00:00", PunchCardPlan(low_balance_threshold_cents=250)
    )
    await stack.append([joined])
    await stack.until_billing_has([joined])
    response = await stack.http.post(f"/clients/{client}/punch-card", json={"amount_cents": 400})
    assert response.status_code == 201, response.text
    bought = response.json()
    assert bought["balance_cents"] == 400
    invoice = (await stack.http.get(f"/invoices/{bought['invoice_id']}")).json()
    assert invoice["purpose"] == "top_up"
    assert invoice["subtotal_cents"] == 400 + 4500  # credit + the setup fee (first invoice)
    today = call(client, _now_text())
    await stack.append([today, reported(client, [today], _now_text(), "per_call")])

    async def warned() -> bool:
        found = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.history WHERE client_id = $1 "
            "AND event_type = 'PunchCardLow'",
            client,
        )
        return bool(found == 1)

    await wait_until(warned, within=30, what="a PunchCardLow")
    wallet = (await stack.http.get(f"/clients/{client}/punch-card")).json()
    assert wallet["balance_cents"] == 200
    paid = await stack.http.post(
        f"/invoices/{invoice['invoice_id']}/payments", json={"amount_cents": invoice["total_cents"]}
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["outstanding_cents"] == 0
    again = await stack.http.post(
        f"/invoices/{invoice['invoice_id']}/payments", json={"amount_cents": 1}
    )
    assert again.status_code == 409


async def test_what_if_with_e_mail_handling(stack: BillingStack, january: dict[str, Any]) -> None:
    body = {"client_id": str(january["a"]), "period": PERIOD, "plan": {"mode": "per_call"},
            "email_handling": {"enabled": True, "monthly_fee_cents": 0}}  # fmt: skip
    result = (await stack.http.post("/what-if", json=body)).json()
    assert result["hypothetical"]["subtotal_cents"] * 2 == result["actual"]["subtotal_cents"]
    assert PerCallPlan().mode == "per_call"


async def test_an_api_key_from_intake_reads_only_its_client_until_revoked(
    stack: BillingStack, january: dict[str, Any]
) -> None:
    await _run(stack)
    a, b = january["a"], january["b"]
    key = new_key(new_id())
    staff = Actor(kind="staff", id="staff-1")
    await stack.append([ApiKeyIssued(
        client_id=a, occurred_at=now(), actor=staff, key_id=key.key_id, name="CRM",
        role="client", secret_sha256=key.secret_sha256,
    )])  # fmt: skip
    await wait_until(lambda: _key_known(stack, key.key_id), what="billing to keep the API key")
    theirs = (await _invoice_of(stack, b))["invoice_id"]
    async with httpx.AsyncClient(base_url=stack.process.url, timeout=60) as caller:
        crm = {"X-Api-Key": key.key}
        own = expect(await caller.get("/invoices", headers=crm), 200)
        assert {row["client_id"] for row in own} == {str(a)}
        foreign = await caller.get(f"/invoices/{theirs}.pdf", headers=crm)
        unknown = new_id()
        missing = await caller.get(f"/invoices/{unknown}.pdf", headers=crm)
        assert foreign.status_code == missing.status_code == 404
        assert foreign.text == missing.text.replace(str(unknown), theirs)
        usage = await caller.get(f"/clients/{b}/usage", params={"period": PERIOD}, headers=crm)
        assert usage.status_code == 404
        assert (await caller.get("/invoices", params={"client_id": str(b)}, headers=crm)
                ).status_code == 404  # fmt: skip
        run = await caller.post("/invoices/run", json={"period": PERIOD}, headers=crm)
        assert run.status_code == 403
        assert (await caller.get("/invoices")).status_code == 401
        await stack.append([ApiKeyRevoked(client_id=a, occurred_at=now(), actor=staff,
                                          key_id=key.key_id)])  # fmt: skip

        async def refused() -> bool:
            return (await caller.get("/invoices", headers=crm)).status_code == 401

        await wait_until(refused, what="billing to refuse the revoked key")
    # The key's events are on intake's topic, keyed by the client: the replay leaves them out.
    body = {"client_id": str(a), "period": PERIOD}
    replay = expect(await stack.http.post("/replays", json=body), 200)
    assert replay["difference"]["matches"], replay["difference"]


async def _key_known(stack: BillingStack, key_id: UUID) -> bool:
    found = await stack.pool.fetchval(
        f"SELECT count(*) FROM {stack.schema}.api_keys WHERE key_id = $1", key_id
    )
    return bool(found)


async def _keys(stack: BillingStack) -> list[tuple[UUID, bool]]:
    rows = await stack.pool.fetch(
        f"SELECT key_id, revoked_at IS NOT NULL AS revoked FROM {stack.schema}.api_keys "
        "ORDER BY key_id"
    )
    return [(row["key_id"], row["revoked"]) for row in rows]


async def test_rebuilding_billing_from_the_topics_reproduces_every_document(
    stack: BillingStack, january: dict[str, Any]
) -> None:
    await _run(stack)
    before = await _documents(stack)
    keys = await _keys(stack)
    stack.process.stop()
    async with stack.pool.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {stack.schema} CASCADE")
    await stack.start_on("billing_rebuilt")

    async def caught_up() -> bool:
        exists = await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.documents")
        return exists is not None and len(await _documents(stack)) == len(before)

    await wait_until(caught_up, within=60, what="the rebuilt projection")
    assert await _documents(stack) == before
    await wait_until(lambda: _same_keys(stack, keys), within=60, what="the API keys again")
    for invoice in before.values():
        if invoice.get("purpose") != "monthly":
            continue
        body = {"client_id": invoice["client_id"], "period": invoice["period"]}
        replay = (await stack.http.post("/replays", json=body)).json()
        assert replay["difference"]["matches"], replay["difference"]
    rerun = await _run(stack)
    assert {r["outcome"] for r in rerun["results"]} == {"already_issued", "nothing_to_invoice"}


async def _same_keys(stack: BillingStack, keys: list[tuple[UUID, bool]]) -> bool:
    exists = await stack.pool.fetchval("SELECT to_regclass($1)", f"{stack.schema}.api_keys")
    return exists is not None and await _keys(stack) == keys


async def _documents(stack: BillingStack) -> dict[str, Any]:
    invoices = (await stack.http.get("/invoices")).json()
    found = {}
    for summary in invoices:
        found[summary["invoice_id"]] = (
            await stack.http.get(f"/invoices/{summary['invoice_id']}")
        ).json()
    for note in (await stack.http.get("/credit-notes")).json():
        found[note["credit_note_id"]] = note
    return found
