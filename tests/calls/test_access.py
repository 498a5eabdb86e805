"""Who may do what in calls, in-process: roles, tenants and the caller as the actor.

The API runs on a rolled-back store as a principal each test chooses (what a verified token
or API key would give), so every role and tenant is tried without an identity provider. The
table the answers are held to is tests/security/access.csv, the committed contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import ApiKeyRevoked, CallReceived, new_id
from libs.platform.auth import Principal
from services.calls import api, read_model
from tests.calls.inprocess import Acting, Calls
from tests.support.access import (
    CALLERS,
    OPERATOR,
    STAFF,
    Row,
    client_user,
    fits,
    issued_key,
    operator_key,
    routes,
    rows,
    stand_ins,
)

pytestmark = [pytest.mark.infra]
BOB = Principal(subject="op-bob", name="Bob", role="operator", client_id=None, via="token")
NOTE = {"caller_name": "Jan de Vries", "message": "Boiler leaks, please call back"}
BODIES: dict[str, dict[str, Any]] = {
    "/calls/{call_id}/answer": {"language": "nl"},
    "/calls/{call_id}/notes": NOTE,
    "/calls/{call_id}/escalations": {"urgency_kind": "leak", "reason": "Water everywhere"},
    "/calls/{call_id}/transfer": {"to_number": "+31687654321"},
    "/calls/{call_id}/voicemail": {"recording_ref": "rec-1", "duration_seconds": 30},
    "/calls/{call_id}/non-billable": {"reason": "wrong_number"},
    "/calls/{call_id}/announced-mail/confirm": {"comment": "seen"},
}


@dataclass(frozen=True)
class Held:
    """A client, its number and one of its calls."""

    client_id: UUID
    number: str
    call_id: UUID


async def held(calls: Calls) -> Held:
    """A client with a number and a call to it, ringing."""
    number = await calls.client()
    call = (await calls.call(number)).call
    return Held(call.client_id, number, call.call_id)


def table() -> list[Row]:
    """The rows of the access table for calls' own routes (Twilio's are signed, not signed-in)."""
    return [r for r in rows("calls", ops=False) if "/twilio/" not in r.path]


def callers(a: Held, b: Held) -> dict[str, Principal]:
    """The callers of the table; the API key is client A's, of role client."""
    key = Principal(f"api-key:{new_id()}", "crm", "client", a.client_id, "api_key")
    return {**stand_ins(a.client_id, b.client_id), "api_key": key}


async def request(http: httpx.AsyncClient, method: str, path: str, a: Held) -> httpx.Response:
    """The route called for client A's call and number, with a body it can take."""
    url = path.format(call_id=a.call_id, number=a.number)
    if method == "POST":
        body = BODIES.get(path, {"dialled_number": a.number})
        return await http.post(url, json=body)
    return await http.request(method, url)


def test_the_table_names_every_route_of_calls() -> None:
    assert {row.route for row in table()} == routes(api.router)


@pytest.mark.parametrize("who", CALLERS)
async def test_each_caller_gets_what_the_access_table_says(
    calls: Calls, http: httpx.AsyncClient, acting: Acting, who: str
) -> None:
    a, b = await held(calls), await held(calls)
    acting.principal = callers(a, b)[who]
    unexpected = []
    for row in table():
        response = await request(http, row.method, row.path, a)
        expected, status = row.expected[who], response.status_code
        if not fits(expected, status):
            unexpected.append(f"{row.route}: {status}, expected {expected}")
    assert unexpected == []


async def test_a_client_lists_only_its_own_calls(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    a, b = await held(calls), await held(calls)
    second = (await calls.call(a.number)).call.call_id
    ids = {str(a.call_id), str(second)}
    for caller in (client_user(a.client_id), callers(a, b)["api_key"]):
        acting.principal = caller
        assert {c["call_id"] for c in (await http.get("/calls")).json()} == ids
        mine = await http.get("/calls", params={"client_id": str(a.client_id)})
        assert {c["call_id"] for c in mine.json()} == ids
    acting.principal = STAFF
    assert len((await http.get("/calls")).json()) == 3
    theirs = await http.get("/calls", params={"client_id": str(b.client_id)})
    assert [c["call_id"] for c in theirs.json()] == [str(b.call_id)]


async def test_asking_for_another_clients_calls_is_the_404_of_an_unknown_client(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    a, b = await held(calls), await held(calls)
    acting.principal = client_user(a.client_id)
    theirs = await http.get("/calls", params={"client_id": str(b.client_id)})
    unknown_id = new_id()
    unknown = await http.get("/calls", params={"client_id": str(unknown_id)})
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert theirs.text.replace(str(b.client_id), "ID") == unknown.text.replace(
        str(unknown_id), "ID"
    )
    assert str(a.call_id) not in theirs.text


async def test_another_clients_call_is_as_unknown_as_one_that_does_not_exist(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    a, b = await held(calls), await held(calls)
    acting.principal = client_user(b.client_id)
    theirs = await http.get(f"/calls/{a.call_id}")
    nobody = new_id()
    missing = await http.get(f"/calls/{nobody}")
    assert (theirs.status_code, missing.status_code) == (404, 404)
    assert theirs.text.replace(str(a.call_id), "ID") == missing.text.replace(str(nobody), "ID")
    assert a.number not in theirs.text
    acting.principal = client_user(a.client_id)
    mine = await http.get(f"/calls/{a.call_id}")
    assert (mine.status_code, mine.json()["history"][0]["type"]) == (200, "CallReceived")


async def test_the_read_model_filters_by_tenant_in_its_queries(calls: Calls) -> None:
    a, b = await held(calls), await held(calls)
    pool, schema = calls.store.pool, calls.store.schema
    assert await read_model.get_call(pool, schema, a.call_id, b.client_id) is None
    assert await read_model.history(pool, schema, a.call_id, b.client_id) == []
    assert await read_model.get_call(pool, schema, a.call_id, a.client_id) is not None
    assert len(await read_model.history(pool, schema, a.call_id, a.client_id)) == 1
    listed = await read_model.list_calls(
        pool, schema, client_id=b.client_id, start=None, end=None, limit=10
    )
    assert [row["call_id"] for row in listed] == [b.call_id]


async def test_the_caller_is_the_operator_and_the_actor_of_every_event(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    number = await calls.client()
    acting.principal = OPERATOR
    pop = await http.post("/calls", json={"dialled_number": number})
    assert pop.status_code == 201, pop.text
    call = f"/calls/{pop.json()['call_id']}"
    answered = await http.post(f"{call}/answer", json={"language": "nl"})
    assert answered.json()["operator_id"] == "op-anna"
    await http.post(f"{call}/escalations", json=BODIES["/calls/{call_id}/escalations"])
    acting.principal = BOB
    note = await http.post(f"{call}/notes", json=NOTE)
    assert (note.status_code, note.json()["operator_id"]) == (201, "op-bob")
    acting.principal = STAFF
    assert (await http.post(f"{call}/end")).status_code == 200
    events = await calls.events(UUID(pop.json()["call_id"]))
    assert [(e.type, e.actor.kind, e.actor.id) for e in events] == [
        ("CallReceived", "operator", "op-anna"),
        ("CallAnswered", "operator", "op-anna"),
        ("EscalationRequested", "operator", "op-anna"),
        ("NoteRecorded", "operator", "op-bob"),
        ("CallEnded", "staff", "staff-eva"),
    ]


async def test_staff_taking_a_call_are_its_operator(calls: Calls, http: httpx.AsyncClient) -> None:
    a = await held(calls)
    answered = await http.post(f"/calls/{a.call_id}/answer", json={"language": "nl"})
    assert answered.json()["operator_id"] == "staff-eva"
    [_, event] = await calls.events(a.call_id)
    assert (event.actor.kind, event.actor.id) == ("staff", "staff-eva")


@pytest.mark.parametrize("path", list(BODIES), ids=lambda path: path.rsplit("/", 1)[-1])
async def test_a_body_naming_an_operator_is_refused_and_changes_nothing(
    calls: Calls, http: httpx.AsyncClient, acting: Acting, path: str
) -> None:
    a = await held(calls)
    acting.principal = OPERATOR
    body = {**BODIES[path], "operator_id": "op-someone-else"}
    refused = await http.post(path.format(call_id=a.call_id), json=body)
    assert refused.status_code == 422, refused.text
    assert len(await calls.events(a.call_id)) == 1


async def test_only_staff_import_calls(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    number = await calls.client()
    body = {"dialled_number": number, "received_at": calls.now.isoformat(), "import": True}
    acting.principal = OPERATOR
    refused = await http.post("/calls", json=body)
    assert refused.status_code == 403, refused.text
    assert "only staff may import" in refused.json()["detail"]
    rows = f"SELECT count(*) FROM {calls.store.schema}.calls"
    assert await calls.store.pool.fetchval(rows) == 0
    acting.principal = STAFF
    imported = await http.post("/calls", json=body)
    assert imported.status_code == 201, imported.text
    [event] = await calls.events(UUID(imported.json()["call_id"]))
    assert isinstance(event, CallReceived)
    assert (event.imported, event.actor.kind, event.actor.id) == (True, "staff", "staff-eva")


async def test_only_staff_revert_a_non_billable_mark(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    a = await held(calls)
    acting.principal = OPERATOR
    marked = await http.post(f"/calls/{a.call_id}/non-billable", json={"reason": "wrong_number"})
    assert marked.status_code == 201, marked.text
    assert (await http.delete(f"/calls/{a.call_id}/non-billable")).status_code == 403
    assert (await calls.row(a.call_id))["non_billable"] is not None
    acting.principal = STAFF
    restored = await http.delete(f"/calls/{a.call_id}/non-billable")
    assert (restored.status_code, restored.json()["non_billable"]) == (200, None)


async def test_an_operator_key_of_one_client_reaches_only_that_clients_calls(
    calls: Calls, http: httpx.AsyncClient, acting: Acting
) -> None:
    a, b = await held(calls), await held(calls)
    acting.principal = operator_key(a.client_id)
    theirs = await http.post("/calls", json={"dialled_number": b.number})
    nobodys = await http.post("/calls", json={"dialled_number": "+31850000009"})
    assert (theirs.status_code, nobodys.status_code) == (404, 404)
    assert theirs.json()["detail"] == f"no client holds {b.number}"
    assert (await http.get(f"/lines/{b.number}")).status_code == 404
    assert (await http.get(f"/lines/{a.number}")).status_code == 200
    answer = await http.post(f"/calls/{b.call_id}/answer", json={"language": "nl"})
    assert (answer.status_code, answer.json()["detail"]) == (404, f"no call {b.call_id}")
    assert len(await calls.events(b.call_id)) == 1
    assert (await http.post(f"/calls/{a.call_id}/answer", json={"language": "nl"})).is_success
    mine = await http.post("/calls", json={"dialled_number": a.number})
    assert mine.status_code == 201, mine.text
    listed = {c["call_id"] for c in (await http.get("/calls")).json()}
    assert listed == {str(a.call_id), mine.json()["call_id"]}


async def test_calls_keeps_the_api_keys_intake_issues_and_revokes(calls: Calls) -> None:
    a = await held(calls)
    issued, key = issued_key(a.client_id, calls.now)
    revoked = ApiKeyRevoked(client_id=a.client_id, occurred_at=calls.now, key_id=issued.key_id)
    kept = f"SELECT client_id, role, secret_sha256, revoked_at FROM {calls.store.schema}.api_keys"
    for event in (issued, issued):  # a redelivered event changes nothing
        await calls.intake(event)
    row = await calls.store.pool.fetchrow(kept)
    assert row is not None
    assert (row["client_id"], row["role"], row["revoked_at"]) == (a.client_id, "client", None)
    assert row["secret_sha256"] == issued.secret_sha256 != key
    await calls.intake(revoked)
    revoked_at = f"SELECT revoked_at FROM {calls.store.schema}.api_keys"
    assert await calls.store.pool.fetchval(revoked_at) == calls.now
