"""The intake API over HTTP against a real intake process, PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from aiokafka import ConsumerRecord

from libs.events import decode
from tests.support.builders import fresh_number
from tests.support.pipeline import wait_until
from tests.support.stack import World, topic_records

pytestmark = [pytest.mark.infra]

FORM: dict[str, Any] = {
    "name": "Installatiebedrijf Van Dijk",
    "contact_email": "info@vandijk.example",
    "language": "nl",
    "plan": {"mode": "punch_card", "low_balance_threshold_cents": 2000},
    "email_handling": {"enabled": True, "monthly_fee_cents": 4900},
    "notification": {"mode": "per_call", "recipients": ["kantoor@vandijk.example"]},
    "cold_calls_free": True,
}


def book(greeting: str, **fields: Any) -> dict[str, Any]:
    """A secretary book with one urgency rule that its one contact can serve."""
    return {
        "greeting": greeting,
        "instructions": "Ask for the address and whether water is leaking.",
        "faq": [{"question": "Do you work weekends?", "answer": "Only for emergencies."}],
        "urgency_rules": [
            {"kind": "leak", "description": "Water leaking", "channels": ["transfer", "sms"]}
        ],
        "escalation_contacts": [{"name": "Monteur Jan", "phone": "+31612345678"}],
        **fields,
    }


async def register(http: httpx.AsyncClient, **overrides: Any) -> str:
    """Register a client and return its id."""
    response = await http.post("/clients", json={**FORM, **overrides})
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


async def onboard(http: httpx.AsyncClient) -> tuple[str, str]:
    """A client with a number and a book, activated; returns (client_id, number)."""
    client_id, number = await register(http), fresh_number()
    assert (
        await http.post(f"/clients/{client_id}/numbers", json={"number": number})
    ).status_code == 201
    assert (
        await http.put(f"/clients/{client_id}/book", json=book("Goedemorgen"))
    ).status_code == 200
    assert (await http.post(f"/clients/{client_id}/activate")).status_code == 200
    return client_id, number


async def test_register_assign_write_the_book_activate_and_pop_the_screen(
    http: httpx.AsyncClient,
) -> None:
    client_id = await register(http)
    number = fresh_number()
    national = "0" + number.removeprefix("+31")
    assigned = await http.post(f"/clients/{client_id}/numbers", json={"number": national})
    assert assigned.status_code == 201
    assert assigned.json() == {"number": number, "client_id": client_id}
    now = datetime.now(UTC)
    holiday = {"text": "Jan is on holiday: call Piet", "valid_from": _iso(now - timedelta(days=1)),
               "valid_until": _iso(now + timedelta(days=6))}  # fmt: skip
    later = {"text": "Closed for stocktaking", "valid_from": _iso(now + timedelta(days=30)),
             "valid_until": _iso(now + timedelta(days=31))}  # fmt: skip
    written = await http.put(
        f"/clients/{client_id}/book",
        json=book("Goedemorgen, Van Dijk", temporary_instructions=[holiday, later]),
    )
    assert written.json() == {"book_version": 1}
    activated = await http.post(f"/clients/{client_id}/activate")
    assert activated.json()["status"] == "active"

    pop = (await http.get(f"/numbers/{number}")).json()
    assert pop["client_id"] == client_id
    assert (pop["company_name"], pop["language"], pop["status"]) == (FORM["name"], "nl", "active")
    assert (pop["greeting"], pop["book_version"]) == ("Goedemorgen, Van Dijk", 1)
    assert pop["faq"] == book("")["faq"]
    assert [r["kind"] for r in pop["urgency_rules"]] == ["leak"]
    assert [i["text"] for i in pop["temporary_instructions"]] == [holiday["text"]]
    assert pop["office_hours"]["timezone"] == "Europe/Amsterdam"
    assert isinstance(pop["office_open"], bool)

    client = (await http.get(f"/clients/{client_id}")).json()
    assert client["numbers"] == [number]
    assert client["plan"]["plan"] == FORM["plan"]
    assert client["plan"]["email_handling"] == FORM["email_handling"]
    assert (client["cold_calls_free"], client["setup_fee_cents"]) == (True, 4500)
    assert client["notification"]["recipients"] == ["kantoor@vandijk.example"]


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


async def test_a_taken_number_is_a_conflict(http: httpx.AsyncClient) -> None:
    first, second, number = await register(http), await register(http), fresh_number()
    assert (
        await http.post(f"/clients/{first}/numbers", json={"number": number})
    ).status_code == 201
    taken = await http.post(f"/clients/{second}/numbers", json={"number": number})
    assert taken.status_code == 409
    assert "taken" in taken.json()["detail"]
    again = await http.post(f"/clients/{first}/numbers", json={"number": number})
    assert again.status_code == 409


async def test_concurrent_assignments_of_one_number_have_exactly_one_winner(
    http: httpx.AsyncClient,
) -> None:
    clients = [await register(http) for _ in range(4)]
    for _ in range(5):
        number = fresh_number()
        responses = await asyncio.gather(
            *(http.post(f"/clients/{c}/numbers", json={"number": number}) for c in clients)
        )
        codes = sorted(r.status_code for r in responses)
        assert codes == [201, 409, 409, 409], [r.text for r in responses]
        winner = next(r.json()["client_id"] for r in responses if r.status_code == 201)
        assert (await http.get(f"/numbers/{number}")).json()["client_id"] == winner


async def test_each_book_revision_is_a_version_and_as_of_finds_the_one_in_force(
    http: httpx.AsyncClient,
) -> None:
    client_id = await register(http)
    assert (await http.get(f"/clients/{client_id}/book")).status_code == 404
    first = await http.put(f"/clients/{client_id}/book", json=book("Goedemorgen"))
    second = await http.put(
        f"/clients/{client_id}/book", json=book("Goedemiddag", expected_book_version=1)
    )
    assert (first.json(), second.json()) == ({"book_version": 1}, {"book_version": 2})
    stale = await http.put(f"/clients/{client_id}/book", json=book("Hoi", expected_book_version=1))
    assert stale.status_code == 409

    versions = (await http.get(f"/clients/{client_id}/book/versions")).json()
    written = [datetime.fromisoformat(v["revised_at"]) for v in versions]
    assert [v["book_version"] for v in versions] == [1, 2]

    async def as_of(instant: datetime) -> httpx.Response:
        return await http.get(f"/clients/{client_id}/book", params={"as_of": instant.isoformat()})

    assert (await as_of(written[0] - timedelta(microseconds=1))).status_code == 404
    assert (await as_of(written[0])).json()["greeting"] == "Goedemorgen"
    assert (await as_of(written[1] - timedelta(microseconds=1))).json()["book_version"] == 1
    assert (await as_of(written[1])).json()["greeting"] == "Goedemiddag"
    assert (await http.get(f"/clients/{client_id}/book")).json()["book_version"] == 2
    naive = await http.get(f"/clients/{client_id}/book", params={"as_of": "2026-01-05T09:30:00"})
    assert naive.status_code == 422
    assert "as_of" in naive.json()["detail"]


async def test_plan_changes_keep_their_history(http: httpx.AsyncClient) -> None:
    client_id = await register(http)
    start = (datetime.now(UTC) + timedelta(days=40)).date().replace(day=1)
    fixed = {"mode": "fixed_monthly", "monthly_amount_cents": 7500, "included_calls": 40}
    changed = await http.post(
        f"/clients/{client_id}/plan", json={"plan": fixed, "effective_from": start.isoformat()}
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["email_handling"] == FORM["email_handling"]
    plans = (await http.get(f"/clients/{client_id}/plans")).json()
    assert [p["plan"]["mode"] for p in plans["history"]] == ["punch_card", "fixed_monthly"]
    assert plans["history"][1]["effective_from"] == start.isoformat()
    assert plans["in_force"]["plan"]["mode"] == "punch_card"
    past = await http.post(
        f"/clients/{client_id}/plan", json={"plan": fixed, "effective_from": "2020-01-01"}
    )
    assert past.status_code == 422
    assert "in the past" in past.json()["detail"]


async def test_lifecycle_conflicts_and_offboarding(http: httpx.AsyncClient) -> None:
    early = await register(http)
    not_ready = await http.post(f"/clients/{early}/activate")
    assert not_ready.status_code == 409
    assert "secretary book" in not_ready.json()["detail"]

    client_id, number = await onboard(http)
    assert (await http.post(f"/clients/{client_id}/activate")).status_code == 409
    left = await http.post(f"/clients/{client_id}/offboard", json={"reason": "hired a secretary"})
    assert (left.json()["status"], left.json()["numbers"]) == ("offboarded", [])
    assert (await http.get(f"/numbers/{number}")).status_code == 404
    for attempt in (
        http.post(f"/clients/{client_id}/numbers", json={"number": fresh_number()}),
        http.post(f"/clients/{client_id}/offboard"),
        http.post(f"/clients/{client_id}/activate"),
        http.put(f"/clients/{client_id}/book", json=book("Hallo")),
    ):
        refused = await attempt
        assert refused.status_code == 409, refused.text
        assert "offboarded" in refused.json()["detail"]
    successor = await register(http)
    reuse = await http.post(f"/clients/{successor}/numbers", json={"number": number})
    assert reuse.status_code == 409, reuse.text
    assert "quarantine" in reuse.json()["detail"]


async def test_release_a_number(http: httpx.AsyncClient) -> None:
    client_id, number = await onboard(http)
    other = await register(http)
    assert (await http.delete(f"/clients/{other}/numbers/{number}")).status_code == 404
    assert (await http.delete(f"/clients/{client_id}/numbers/{number}")).status_code == 204
    assert (await http.get(f"/numbers/{number}")).status_code == 404
    assert (await http.get(f"/clients/{client_id}")).json()["numbers"] == []


async def test_preferences_office_hours_and_listing(http: httpx.AsyncClient) -> None:
    client_id, number = await onboard(http)
    per_call = {"mode": "per_call", "recipients": ["a@vandijk.example", "b@vandijk.example"]}
    changed = await http.put(f"/clients/{client_id}/notification", json=per_call)
    assert changed.json()["notification"]["recipients"] == per_call["recipients"]
    saturday = {"weekly": {"sat": [{"opens": "09:00", "closes": "12:30"}]}, "public_holidays": None}
    hours = await http.put(f"/clients/{client_id}/office-hours", json=saturday)
    assert hours.status_code == 200, hours.text
    pop = (await http.get(f"/numbers/{number}")).json()
    assert pop["office_hours"]["weekly"]["sat"] == [{"opens": "09:00:00", "closes": "12:30:00"}]
    assert pop["office_hours"]["public_holidays"] is None
    active = (await http.get("/clients", params={"status": "active", "limit": 500})).json()
    assert client_id in {c["client_id"] for c in active}
    assert {c["status"] for c in active} == {"active"}


async def test_unknown_ids_are_404(http: httpx.AsyncClient) -> None:
    unknown = uuid4()
    for response in (
        await http.get(f"/clients/{unknown}"),
        await http.get(f"/clients/{unknown}/book"),
        await http.get(f"/clients/{unknown}/plans"),
        await http.post(f"/clients/{unknown}/numbers", json={"number": fresh_number()}),
        await http.put(f"/clients/{unknown}/book", json=book("Hallo")),
        await http.post(f"/clients/{unknown}/activate"),
        await http.get(f"/numbers/{fresh_number()}"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "mentions"),
    [
        ("POST", "/clients", {**FORM, "name": ""}, "name"),
        ("POST", "/clients", {**FORM, "language": "es"}, "language"),
        ("POST", "/clients", {**FORM, "contact_email": "not-an-address"}, "contact_email"),
        ("POST", "/clients", {**FORM, "contact_email": "jan..de@vandijk.example"}, "periods"),
        (
            "POST",
            "/clients",
            {**FORM, "notification": {"recipients": ["kantoor@-vandijk.example"]}},
            "not an e-mail address",
        ),
        (
            "PUT",
            "/clients/{client}/notification",
            {"mode": "per_call", "recipients": ["kantoor@-vandijk.example"]},
            "not an e-mail address",
        ),
        (
            "PUT",
            "/clients/{client}/book",
            book("Hi", escalation_contacts=[{"name": "Jan", "email": "jan@vandijk.-example"}]),
            "not an e-mail address",
        ),
        (
            "POST",
            "/clients",
            {k: v for k, v in FORM.items() if k != "name"},
            "name: Field required",
        ),
        ("POST", "/clients", {**FORM, "vat": "NL123"}, "vat"),
        ("POST", "/clients", {**FORM, "name": "Bakkerij\u0000"}, "NUL"),
        ("POST", "/clients", {**FORM, "office_hours": {"timezone": "Mars/Base"}}, "time zone"),
        ("POST", "/clients/not-a-uuid/numbers", {"number": "+31851234567"}, "client_id"),
        ("POST", "/clients/{client}/numbers", {"number": "+3185"}, "not a valid telephone"),
        ("POST", "/clients/{client}/numbers", {"number": 12}, "number: Input should be"),
        ("PUT", "/clients/{client}/book", {"greeting": ""}, "greeting"),
        ("PUT", "/clients/{client}/book", book("Hi", escalation_contacts=[]), "uses transfer"),
        ("POST", "/clients/{client}/plan", {"plan": {"mode": "gold"}}, "plan"),
    ],
)
async def test_malformed_input_is_422_with_a_readable_message(
    http: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], mentions: str
) -> None:
    client_id = await register(http) if "{client}" in path else ""
    response = await http.request(method, path.format(client=client_id), json=body)
    assert response.status_code == 422, response.text
    assert mentions in response.json()["detail"]


async def test_a_body_that_is_not_json_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/clients", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


async def test_the_events_are_published_on_the_intake_topic(
    http: httpx.AsyncClient, intake_world: World
) -> None:
    client_id, number = await onboard(http)
    await http.post(f"/clients/{client_id}/offboard")
    expected = [
        "ClientRegistered", "NumberAssigned", "SecretaryBookRevised", "ClientActivated",
        "ClientOffboarded", "NumberReleased",
    ]  # fmt: skip
    records: list[ConsumerRecord] = []

    async def all_published() -> bool:
        records[:] = await _records_of(intake_world, UUID(client_id))
        return len(records) >= len(expected)

    await wait_until(all_published, within=30, what="the client's events on Kafka")
    events = [decode(r.value) for r in records]
    assert [e.type for e in events] == expected
    assert {r.key for r in records} == {client_id.encode()}
    assert {getattr(e, "number", number) for e in events} == {number}


async def _records_of(world: World, client_id: UUID) -> list[ConsumerRecord]:
    key = str(client_id).encode()
    return [record for record in await topic_records(world, "intake") if record.key == key]
