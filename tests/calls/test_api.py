"""The calls API against a real calls process that learns intake's events through Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from libs.events import ApiKeyIssued, ApiKeyRevoked, ClientOffboarded, NumberReleased, new_id
from libs.platform.api_keys import new_key
from libs.twilio import compute_signature
from services.calls.telephony import call_id_for
from tests.calls.conftest import (
    STAFF_SUBJECT,
    TWILIO_TOKEN,
    book,
    calls_events,
    seed_client,
    until_known,
)
from tests.support.pipeline import wait_until
from tests.support.stack import Stack

pytestmark = [pytest.mark.infra]

MONDAY_MORNING = "2026-06-01T08:00:00Z"  # 10:00 in Amsterdam, a working day
SATURDAY = "2026-06-06T10:00:00Z"


async def receive(stack: Stack, number: str, received_at: str = MONDAY_MORNING) -> dict[str, Any]:
    """POST /calls for a number; the screen pop."""
    response = await stack.http.post(
        "/calls",
        json={
            "dialled_number": number,
            "caller_number": "+31612345678",
            "received_at": received_at,
            "import": True,  # dated at a fixed instant, further back than the window
        },
    )
    assert response.status_code == 201, response.text
    pop: dict[str, Any] = response.json()
    return pop


async def post(stack: Stack, path: str, body: dict[str, Any] | None, status: int) -> Any:
    """POST a body and check the status; the JSON answer."""
    response = await stack.http.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


NOTE = {
    "caller_name": "Jan de Vries",
    "caller_company": "De Vries Bouw",
    "caller_number": "+31612345678",
    "message": "Boiler leaks, please call back",
    "follow_up": "call_back",
    "follow_up_detail": "today before 17:00",
    "actions_taken": "Told him a technician may call",
    "information_given": "Emergency line opening hours",
}


async def test_a_call_through_its_whole_lifecycle(stack: Stack) -> None:
    client = await seed_client(stack, books=2, cold_calls_free=True)
    pop = await receive(stack, client.number)
    assert pop["client"] == {"id": str(client.client_id), "name": client.name, "language": "nl"}
    assert (pop["book_version"], pop["office_open"], pop["office_status"]) == (2, True, "open")
    assert pop["greeting"] == "Bakker Installatie, goedemorgen (book v2)"
    assert [rule["kind"] for rule in pop["urgency_rules"]] == ["leak"]
    call = f"/calls/{pop['call_id']}"
    answered = await post(stack, f"{call}/answer", {"language": "nl"}, 200)
    assert (answered["stage"], answered["operator_id"]) == ("answered", STAFF_SUBJECT)
    await stack.append([book(client.client_id, 3)])
    await until_known(stack, client.client_id, 3)
    line = (await stack.http.get(f"/lines/{client.number}")).json()
    assert (line["book_version"], line["client"]["name"]) == (3, client.name)
    note = await post(stack, f"{call}/notes", NOTE, 201)
    assert note == {
        **NOTE,
        "operator_id": STAFF_SUBJECT,
        "book_version": 2,
        "recorded_at": note["recorded_at"],
    }
    escalation = await post(
        stack, f"{call}/escalations", {"urgency_kind": "leak", "reason": "Leak"}, 201
    )
    transfer = {"to_number": "+31687654321", "escalation_id": escalation["escalation_id"]}
    assert (await post(stack, f"{call}/transfer", transfer, 200))["stage"] == "transferred"
    assert (await post(stack, f"{call}/end", None, 200))["ended_at"] is not None
    marked = await post(
        stack, f"{call}/non-billable", {"reason": "cold_call", "comment": "Sales"}, 201
    )
    assert marked["non_billable"]["reason"] == "cold_call"
    restored = await stack.http.delete(f"{call}/non-billable", params={"comment": "A customer"})
    assert (restored.status_code, restored.json()["non_billable"]) == (200, None)
    expected = [
        "CallReceived", "CallAnswered", "NoteRecorded", "EscalationRequested", "CallTransferred",
        "CallEnded", "CallMarkedNonBillable", "CallBillabilityRestored",
    ]  # fmt: skip
    detail = (await stack.http.get(call)).json()
    assert [entry["type"] for entry in detail["history"]] == expected
    assert [entry["stream_version"] for entry in detail["history"]] == list(range(1, 9))
    assert (detail["note"]["book_version"], detail["version"]) == (2, 8)
    on_kafka = await calls_events(stack, UUID(pop["call_id"]), len(expected))
    assert [event.type for event in on_kafka] == expected
    assert {event.client_id for event in on_kafka} == {client.client_id}
    assert [str(e.event_id) for e in on_kafka] == [h["event_id"] for h in detail["history"]]


async def test_after_hours_the_call_goes_to_voicemail(stack: Stack) -> None:
    client = await seed_client(stack)
    pop = await receive(stack, client.number, SATURDAY)
    assert (pop["office_open"], pop["office_status"]) == (False, "closed: outside office hours")
    call = f"/calls/{pop['call_id']}"
    voicemail = {"recording_ref": "rec/1.wav", "duration_seconds": 31, "summary": "Call back"}
    assert (await post(stack, f"{call}/voicemail", voicemail, 201))["stage"] == "voicemail"
    await post(stack, f"{call}/answer", {"language": "nl"}, 409)
    note = await post(stack, f"{call}/notes", NOTE, 201)
    assert note["operator_id"] == STAFF_SUBJECT, "whoever notes a voicemail is its operator"


async def test_received_at_defaults_to_the_clock(stack: Stack) -> None:
    client = await seed_client(stack)
    before = datetime.now(UTC)
    pop = await post(stack, "/calls", {"dialled_number": client.number}, 201)
    received_at = datetime.fromisoformat(pop["received_at"])
    assert before - timedelta(seconds=5) <= received_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert pop["caller_number"] is None


async def test_numbers_no_client_holds_are_not_found(stack: Stack) -> None:
    client = await seed_client(stack)
    body = {"dialled_number": "+31850000001"}
    assert (await post(stack, "/calls", body, 404))["detail"] == "no client holds +31850000001"
    assert (await stack.http.get("/lines/+31850000001")).status_code == 404
    assert (await stack.http.get("/lines/0851234567")).status_code == 422
    await stack.append(
        [NumberReleased(client_id=client.client_id, occurred_at=datetime.now(UTC),
        number=client.number)]
    )  # fmt: skip

    async def released() -> bool:
        response = await stack.http.post("/calls", json={"dialled_number": client.number})
        return response.status_code == 404

    await wait_until(released, within=30, what="calls to learn the number was released")


async def test_calls_of_an_offboarded_client_are_not_found(stack: Stack) -> None:
    client = await seed_client(stack)
    gone = ClientOffboarded(client_id=client.client_id, occurred_at=datetime.now(UTC))
    await stack.append([gone])

    async def offboarded() -> bool:
        status = await stack.pool.fetchval(
            f"SELECT status FROM {stack.schema}.directory_clients WHERE client_id = $1",
            client.client_id,
        )
        return bool(status == "offboarded")

    await wait_until(offboarded, within=30, what="calls to learn the client left")
    detail = (await post(stack, "/calls", {"dialled_number": client.number}, 404))["detail"]
    assert "has left" in detail


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"dialled_number": "0851234567"},
        {"dialled_number": "+31851234567", "received_at": "2026-06-01T10:00:00"},
        {"dialled_number": "+31851234567", "unexpected": True},
        {"dialled_number": "+31851234567", "caller_number": "anonymous"},
    ],
    ids=["empty", "not E.164", "naive time", "unknown field", "bad caller"],
)
async def test_malformed_calls_are_422(stack: Stack, body: dict[str, Any]) -> None:
    await post(stack, "/calls", body, 422)


async def test_illegal_transitions_are_refused_and_change_nothing(stack: Stack) -> None:
    client = await seed_client(stack, cold_calls_free=False)
    pop = await receive(stack, client.number)
    call = f"/calls/{pop['call_id']}"
    unknown = "/calls/01890a5d-ac96-774b-bcce-b302099a8058"
    await post(stack, f"{unknown}/notes", NOTE, 404)
    named = {**NOTE, "operator_id": "op-anna"}  # the operator is the caller, never the body's
    await post(stack, f"{call}/notes", named, 422)
    await post(stack, f"{call}/notes", NOTE, 409)  # nobody answered yet
    assert (await stack.http.delete(f"{call}/non-billable")).status_code == 409
    await post(stack, f"{call}/answer", {"language": "nl"}, 200)
    await post(stack, f"{call}/escalations", {"urgency_kind": "fire", "reason": "Smoke"}, 422)
    refused = await post(stack, f"{call}/non-billable", {"reason": "cold_call"}, 422)
    assert "cold calls are free" in refused["detail"]
    await post(stack, f"{call}/non-billable", {"reason": "wrong_number"}, 201)
    await post(stack, f"{call}/non-billable", {"reason": "wrong_number"}, 409)
    await post(stack, f"{call}/end", None, 200)
    ended = await post(stack, f"{call}/answer", {"language": "en"}, 409)
    assert "has ended" in ended["detail"]
    await post(stack, f"{call}/end", None, 409)
    await post(stack, f"{call}/answer", {"language": "xx"}, 422)
    await post(stack, "/calls/not-a-uuid/end", None, 422)
    assert (await stack.http.get(unknown)).status_code == 404
    detail = (await stack.http.get(call)).json()
    types = [entry["type"] for entry in detail["history"]]
    assert types == ["CallReceived", "CallAnswered", "CallMarkedNonBillable", "CallEnded"]
    assert (detail["version"], detail["operator_id"]) == (4, STAFF_SUBJECT)


async def test_list_calls_by_client_and_period(stack: Stack) -> None:
    client = await seed_client(stack)
    times = ["2026-06-01T08:00:00Z", "2026-06-02T08:00:00Z", "2026-06-03T08:00:00Z"]
    ids = [(await receive(stack, client.number, at))["call_id"] for at in times]
    query = {"client_id": str(client.client_id)}
    listed = (await stack.http.get("/calls", params=query)).json()
    assert [c["call_id"] for c in listed] == ids
    window = {**query, "from": "2026-06-02T00:00:00+02:00", "to": "2026-06-03T08:00:00Z"}
    assert [c["call_id"] for c in (await stack.http.get("/calls", params=window)).json()] == ids[
        1:2
    ]
    reversed_window = {**query, "from": "2026-06-03T00:00:00Z", "to": "2026-06-02T00:00:00Z"}
    assert (await stack.http.get("/calls", params=reversed_window)).status_code == 422
    assert (await stack.http.get("/calls", params={"from": "2026-06-01"})).status_code == 422


def twilio_call(to: str) -> dict[str, str]:
    """The parameters Twilio posts for an incoming call."""
    return {
        "CallSid": f"CA{uuid4().hex}",
        "AccountSid": f"AC{uuid4().hex}",
        "From": "+31612345678",
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


async def twilio_post(
    stack: Stack, path: str, params: dict[str, str], signature: str | None = None
) -> Any:
    """POST a Twilio webhook, signed for its URL and params unless a signature is given."""
    url = f"{stack.url}{path}"
    sign = compute_signature(TWILIO_TOKEN, url, params.items()) if signature is None else signature
    headers = {"X-Twilio-Signature": sign} if sign else {}
    return await stack.http.post(path, data=params, headers=headers)


async def test_twilio_call_is_recorded_once_and_answered_in_twiml(stack: Stack) -> None:
    client = await seed_client(stack)
    params = twilio_call(client.number)
    first = await twilio_post(stack, "/calls/twilio/voice", params)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/xml")
    call = (await stack.http.get(f"/calls/{call_id_for(params['CallSid'])}")).json()
    assert (call["client_id"], call["dialled_number"]) == (str(client.client_id), client.number)
    if call["office_open"]:
        assert "<Enqueue>frontdesk-operators-nl</Enqueue>" in first.text
    else:
        assert "buiten kantoortijden" in first.text
        assert "<Record action=" in first.text
    again = await twilio_post(stack, "/calls/twilio/voice", params)
    assert (again.status_code, again.text) == (200, first.text)
    listed = (await stack.http.get("/calls", params={"client_id": str(client.client_id)})).json()
    assert [c["call_id"] for c in listed] == [call["call_id"]]
    assert call["history"][0]["event"]["actor"] == {
        "kind": "telephony", "id": f"twilio:{params['CallSid']}"
    }  # fmt: skip


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "tampered"])
async def test_twilio_call_with_a_bad_signature_is_403_and_records_nothing(
    stack: Stack, signature: str
) -> None:
    client = await seed_client(stack)
    params = twilio_call(client.number)
    if signature == "tampered":
        signature = compute_signature(
            TWILIO_TOKEN, f"{stack.url}/calls/twilio/voice", params.items()
        )
        params["From"] = "+31600000000"
    response = await twilio_post(stack, "/calls/twilio/voice", params, signature)
    assert response.status_code == 403
    assert (await stack.http.get(f"/calls/{call_id_for(params['CallSid'])}")).status_code == 404
    listed = await stack.http.get("/calls", params={"client_id": str(client.client_id)})
    assert listed.json() == []


async def test_twilio_call_to_a_number_nobody_holds_is_rejected(stack: Stack) -> None:
    response = await twilio_post(stack, "/calls/twilio/voice", twilio_call("+31850000002"))
    assert response.status_code == 200
    assert '<Reject reason="rejected" />' in response.text


async def test_twilio_recording_becomes_the_calls_voicemail_once(stack: Stack) -> None:
    client = await seed_client(stack)
    params = twilio_call(client.number)
    await twilio_post(stack, "/calls/twilio/voice", params)
    recording = {
        "CallSid": params["CallSid"],
        "RecordingUrl": "https://api.twilio.com/recordings/RE123",
        "RecordingDuration": "17",
    }
    for _ in range(2):
        response = await twilio_post(stack, "/calls/twilio/recording", recording)
        assert (response.status_code, "<Hangup />" in response.text) == (200, True)
    call = (await stack.http.get(f"/calls/{call_id_for(params['CallSid'])}")).json()
    assert call["voicemail"]["recording_ref"] == recording["RecordingUrl"]
    assert [h["type"] for h in call["history"]] == ["CallReceived", "VoicemailRecorded"]


async def test_a_key_intake_issued_reads_its_clients_calls_until_it_is_revoked(
    stack: Stack,
) -> None:
    mine, theirs = await seed_client(stack), await seed_client(stack)
    own_call, their_call = await receive(stack, mine.number), await receive(stack, theirs.number)
    key = new_key(new_id())
    issued = ApiKeyIssued(
        client_id=mine.client_id, occurred_at=datetime.now(UTC), key_id=key.key_id,
        name="crm", role="client", secret_sha256=key.secret_sha256,
    )  # fmt: skip
    await stack.append([issued])
    async with httpx.AsyncClient(base_url=stack.url, headers={"X-Api-Key": key.key}) as crm:

        async def accepted() -> bool:
            return (await crm.get("/whoami")).status_code == 200  # 401 until calls knows it

        await wait_until(accepted, within=30, what="calls to learn the issued key")
        who = (await crm.get("/whoami")).json()
        assert (who["role"], who["client_id"], who["via"]) == (
            "client", str(mine.client_id), "api_key"
        )  # fmt: skip
        listed = await crm.get("/calls")
        assert [c["call_id"] for c in listed.json()] == [own_call["call_id"]]
        assert (await crm.get(f"/calls/{their_call['call_id']}")).status_code == 404
        assert (await crm.post("/calls", json={"dialled_number": mine.number})).status_code == 403
        revoked = ApiKeyRevoked(
            client_id=mine.client_id, occurred_at=datetime.now(UTC), key_id=key.key_id
        )
        await stack.append([revoked])

        async def refused() -> bool:
            return (await crm.get("/calls")).status_code == 401

        await wait_until(refused, within=30, what="calls to learn the key was revoked")
