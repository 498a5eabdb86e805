"""Who may call which billing route, in-process: the committed access table, tenants, actors.

Every billing row of tests/security/access.csv is called as each caller (the principal set
directly, and a real API key of client A taken from billing's own table), and the answer
compared with the table: `allow` is any answer but 401/403 and never a 5xx; `404` is exactly
the answer a resource that does not exist gets. Lists hold only the caller's client's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import ApiKeyIssued, ApiKeyRevoked, Event, new_id
from libs.events.catalogue import topic_for
from libs.events.envelope import Actor
from libs.platform.auth import Principal
from services.billing.api import router
from services.billing.domain.replay import rebuild
from tests.billing.history import at, call, marked, registered, reported
from tests.billing.inproc import PREFIX, STAFF_CALLER, Billing
from tests.support.access import (
    CALLERS,
    Row,
    client_user,
    fits,
    issued_key,
    routes,
    rows,
    stand_ins,
)

pytestmark = [pytest.mark.infra]


@dataclass
class Clients:
    """Two clients, each with an invoiced January and a credit note on it in February."""

    a: UUID
    b: UUID
    invoices: dict[UUID, UUID]
    credit_notes: dict[UUID, UUID]
    key: str


async def _client_with_documents(billing: Billing, client: UUID) -> tuple[UUID, UUID]:
    calls = [call(client, f"2026-01-05T{9 + i:02d}:00:00") for i in range(2)]
    billing.now = at("2026-02-01T09:00:00")
    await billing.consume(registered(client, "2025-12-01T08:00:00"), *calls,
                          reported(client, calls, "2026-01-05T16:15:00"))  # fmt: skip
    [january] = await billing.run("2026-01", client)
    billing.now = at("2026-02-10T09:00:00")
    await billing.consume(marked(calls[0], "wrong_number", "2026-02-09T09:00:00"))
    billing.now = at("2026-03-01T09:00:00")
    [february] = await billing.run("2026-02", client)
    assert january.invoice_id is not None
    return january.invoice_id, february.credit_note_ids[0]


@pytest.fixture
async def clients(billing: Billing) -> Clients:
    """Clients A and B with documents, and an API key (role client) of A that billing kept."""
    a, b = new_id(), new_id()
    invoices, notes = {}, {}
    for client in (a, b):
        invoices[client], notes[client] = await _client_with_documents(billing, client)
    issued, key = issued_key(a, billing.now)
    await billing.consume(issued)
    return Clients(a, b, invoices, notes, key)


def _path(template: str, clients: Clients, client: UUID | None = None) -> str:
    client = client or clients.a
    return template.format(
        client_id=client, invoice_id=clients.invoices.get(client, client),
        credit_note_id=clients.credit_notes.get(client, client),
    )  # fmt: skip


def _request(rule: Row, clients: Clients) -> dict[str, Any]:
    bodies: dict[str, Any] = {
        "/invoices/run": {"period": "2026-01", "client_id": str(clients.a)},
        "/invoices/{invoice_id}/payments": {"amount_cents": 1},
        "/clients/{client_id}/punch-card": {"amount_cents": 100},
        "/replays": {},  # staff get 422: in-process there is no log to read
        "/what-if": {
            "client_id": str(clients.a),
            "period": "2026-01",
            "plan": {"mode": "per_call"},
        },
    }
    params = {"period": "2026-01"} if rule.path.endswith("/usage") else None
    body = bodies.get(rule.path) if rule.method == "POST" else None
    return {"json": body, "params": params}


def _act(billing: Billing, clients: Clients, caller: str) -> dict[str, str]:
    """Make requests come from `caller`; the headers they need."""
    billing.caller = stand_ins(clients.a, clients.b).get(caller)
    return {"X-Api-Key": clients.key} if caller == "api_key" else {}


def _unknown(path: str, clients: Clients) -> tuple[str, str, str]:
    """The path with a new id in place of client A's (or its document's): path, new id, A's."""
    for known in (*clients.invoices.values(), *clients.credit_notes.values(), clients.a):
        if str(known) in path:
            unknown = str(new_id())
            return path.replace(str(known), unknown), unknown, str(known)
    raise AssertionError(f"{path} names nothing of client A")


async def _check(
    http: httpx.AsyncClient, billing: Billing, clients: Clients, rule: Row, caller: str
) -> str | None:
    """What is wrong with the answer `caller` gets on `rule`'s route, or None."""
    headers = _act(billing, clients, caller)
    request = _request(rule, clients)
    path = _path(rule.path, clients)
    got = await http.request(rule.method, path, headers=headers, **request)
    expected = rule.expected[caller]
    if expected == "404":  # exactly what a resource that does not exist gets
        unknown_path, unknown, known = _unknown(path, clients)
        missing = await http.request(rule.method, unknown_path, headers=headers, **request)
        hidden = missing.text.replace(unknown, known)
        if (got.status_code, got.text) != (404, hidden) or missing.status_code != 404:
            return f"{got.status_code} {got.text[:200]} != {missing.status_code} {hidden[:200]}"
        return None
    return None if fits(expected, got.status_code) else f"{got.status_code} {got.text[:200]}"


def test_the_table_lists_every_billing_route() -> None:
    assert {rule.route for rule in rows("billing", ops=False)} == routes(router)


async def test_every_billing_route_answers_each_caller_as_the_table_says(
    billing: Billing, http: httpx.AsyncClient, clients: Clients
) -> None:
    rules = rows("billing", ops=False)
    assert len(rules) == 16
    wrong = []
    for rule in rules:
        for caller in CALLERS:
            problem = await _check(http, billing, clients, rule, caller)
            if problem is not None:
                wrong.append(f"{caller} {rule.method} {rule.path}: {problem}")
    assert not wrong, "\n".join(wrong)


async def test_a_client_lists_only_its_own_documents(
    billing: Billing, http: httpx.AsyncClient, clients: Clients
) -> None:
    lists = (("/invoices", clients.invoices, "invoice_id"),
             ("/credit-notes", clients.credit_notes, "credit_note_id"))  # fmt: skip
    for path, ids, field in lists:
        billing.caller = STAFF_CALLER
        everyone = {row[field] for row in (await http.get(path)).json()}
        assert everyone == {str(i) for i in ids.values()}
        for client, other in ((clients.a, clients.b), (clients.b, clients.a)):
            billing.caller = client_user(client)
            own = (await http.get(path)).json()
            assert {row[field] for row in own} == {str(ids[client])}
            asked = await http.get(path, params={"client_id": str(client)})
            assert asked.json() == own
            foreign = await http.get(path, params={"client_id": str(other)})
            unknown = new_id()
            missing = await http.get(path, params={"client_id": str(unknown)})
            assert foreign.status_code == missing.status_code == 404
            assert foreign.json()["detail"] == missing.json()["detail"].replace(
                str(unknown), str(other)
            )


async def test_an_api_key_reads_its_own_client_until_it_is_revoked(
    billing: Billing, http: httpx.AsyncClient, clients: Clients
) -> None:
    billing.caller = None  # the real credential check, from billing's api_keys table
    key = {"X-Api-Key": clients.key}
    own = await http.get("/invoices", headers=key)
    assert own.status_code == 200, own.text
    assert {row["client_id"] for row in own.json()} == {str(clients.a)}
    pdf = await http.get(f"/invoices/{clients.invoices[clients.a]}.pdf", headers=key)
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    foreign = await http.get(f"/invoices/{clients.invoices[clients.b]}.pdf", headers=key)
    assert foreign.status_code == 404
    assert (
        await http.post("/invoices/run", json={"period": "2026-01"}, headers=key)
    ).status_code == 403
    assert (await http.get("/invoices")).status_code == 401
    [issued] = [e.event for e in billing.logged if isinstance(e.event, ApiKeyIssued)]
    await billing.consume(ApiKeyRevoked(client_id=clients.a, occurred_at=billing.now,
                                        key_id=issued.key_id))  # fmt: skip
    revoked = await http.get("/invoices", headers=key)
    assert revoked.status_code == 401, revoked.text


async def test_api_key_events_are_no_billing_facts_and_leave_a_replay_alone(
    billing: Billing, clients: Clients
) -> None:
    keys = [e.event.event_id for e in billing.logged if e.event.type.startswith("ApiKey")]
    assert keys
    kept = await billing.conn.fetchval(
        f"SELECT count(*) FROM {billing.store.schema}.history WHERE event_id = ANY($1::uuid[])",
        keys,
    )
    assert kept == 0
    own = await billing.stream(clients.a)
    topic = topic_for("billing", PREFIX)
    with_keys = rebuild(billing.log(own), clients.a, "2026-01", topic)
    without = [e for e in billing.log(own) if not e.event.type.startswith("ApiKey")]
    assert with_keys == rebuild(without, clients.a, "2026-01", topic)
    assert (with_keys.basis, with_keys.difference.matches) == ("invoice_positions", True)


async def test_the_events_a_route_causes_carry_the_caller(
    billing: Billing, http: httpx.AsyncClient, clients: Clients
) -> None:
    billing.caller = Principal("staff-7", "Sam", "staff", None, "token")
    invoice = clients.invoices[clients.a]
    paid = await http.post(f"/invoices/{invoice}/payments", json={"amount_cents": 100})
    assert paid.status_code == 201, paid.text
    late = new_id()
    await billing.consume(registered(late, "2026-02-01T08:00:00"))
    ran = await http.post("/invoices/run", json={"period": "2026-02", "client_id": str(late)})
    assert ran.status_code == 200, ran.text
    caused: list[Event] = [*(await billing.stream(clients.a))[-1:], *await billing.stream(late)]
    assert [e.type for e in caused] == ["PaymentRecorded", "InvoiceIssued"]
    assert {e.actor for e in caused} == {Actor(kind="staff", id="staff-7")}
