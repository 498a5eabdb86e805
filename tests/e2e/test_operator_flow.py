"""End to end over HTTP: a client is set up at intake, and an operator handles a call at calls.

Both services run as real processes; calls learns intake's client, number and book versions
only through Kafka. The note must carry the book version that was on screen when the call
came in, even after intake has revised the book again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from libs.events import Event, NoteRecorded
from libs.platform.api_keys import parse
from tests.support.builders import fresh_number
from tests.support.clock import amsterdam, private_clock, working_day
from tests.support.credentials import STAFF, STAFF_KEY
from tests.support.stack import World, events_on_topic, expect, get_when, topic_events

pytestmark = [pytest.mark.infra]

INTAKE_APP = "services.intake.app:create_app"
CALLS_APP = "services.calls.app:create_app"


def book(version: int) -> dict[str, Any]:
    """A complete secretary book, its text marked with the version it should become."""
    return {
        "greeting": f"Installatiebedrijf Bakker, goedemorgen (v{version})",
        "instructions": f"Appointments on Tuesdays only (v{version})",
        "faq": [{"question": "Solar panels?", "answer": "Yes, from 2026"}],
        "urgency_rules": [{"kind": "leak", "description": "Water leak", "channels": ["sms"]}],
        "escalation_contacts": [{"name": "Piet", "phone": "+31612345678"}],
    }


async def test_operator_handles_a_call_for_a_client_set_up_at_intake(world: World) -> None:
    # The call comes in when the clock says (a call is never dated before its number's
    # assignment): a clock of this test's own, on a working morning ahead.
    start = amsterdam(working_day(datetime.now(UTC).date()), 10)
    clock_dsn = await private_clock(world.infra.dsn, world.schema("clock"), start)
    env = {"FRONTDESK_CLOCK": "simulated", "FRONTDESK_CLOCK_DATABASE_URL": clock_dsn}
    intake_proc = world.process(INTAKE_APP, "intake", "intake", **env)
    calls_proc = world.process(CALLS_APP, "calls", "calls", **env)
    intake_proc.start()
    calls_proc.start()
    async with (
        httpx.AsyncClient(base_url=intake_proc.url, timeout=30, headers=STAFF) as intake,
        httpx.AsyncClient(base_url=calls_proc.url, timeout=30, headers=STAFF) as calls,
    ):
        client_id, number = await set_up_client(intake)
        await wait_for_line(calls, number, book_version=2)
        call_id = await handle_call(intake, calls, client_id, number)
    await check_kafka(world, client_id, call_id)


async def set_up_client(intake: httpx.AsyncClient) -> tuple[UUID, str]:
    """Register a client, give it a number and write its book twice; (client id, number)."""
    registration = {
        "name": "Installatiebedrijf Bakker B.V.",
        "contact_email": "jan@bakker.nl",
        "language": "nl",
        "cold_calls_free": True,
    }
    client_id = UUID((expect(await intake.post("/clients", json=registration), 201))["client_id"])
    number = fresh_number()
    expect(await intake.post(f"/clients/{client_id}/numbers", json={"number": number}), 201)
    for version in (1, 2):
        revised = expect(await intake.put(f"/clients/{client_id}/book", json=book(version)), 200)
        assert revised == {"book_version": version}
    return client_id, number


async def wait_for_line(calls: httpx.AsyncClient, number: str, *, book_version: int) -> None:
    """Wait until calls has learned, through Kafka, the number at this book version."""
    await get_when(
        calls, f"/lines/{number}", lambda line: line["book_version"] == book_version,
        within=60, what=f"calls to learn {number} at book v{book_version}",
    )  # fmt: skip


async def handle_call(
    intake: httpx.AsyncClient, calls: httpx.AsyncClient, client_id: UUID, number: str
) -> UUID:
    """Receive and answer a call, revise the book once more, then note, mark, revert, end."""
    call_id = await receive_and_answer(calls, client_id, number)
    expect(await intake.put(f"/clients/{client_id}/book", json=book(3)), 200)
    await wait_for_line(calls, number, book_version=3)
    call = f"/calls/{call_id}"
    noted = expect(await calls.post(f"{call}/notes", json=NOTE), 201)
    assert (noted["book_version"], noted["operator_id"]) == (2, STAFF_SUBJECT)  # who answered
    mark = {"reason": "wrong_number", "comment": "Wanted the bakery"}
    expect(await calls.post(f"{call}/non-billable", json=mark), 201)
    expect(await calls.delete(f"{call}/non-billable"), 200)
    expect(await calls.post(f"{call}/end"), 200)
    detail = expect(await calls.get(call), 200)
    assert [h["type"] for h in detail["history"]] == EXPECTED
    assert (detail["stage"], detail["non_billable"]) == ("answered", None)
    assert (detail["note"]["book_version"], detail["book_version"]) == (2, 2)
    assert detail["ended_at"] is not None
    listed = expect(await calls.get("/calls", params={"client_id": str(client_id)}), 200)
    assert [c["call_id"] for c in listed] == [str(call_id)]
    return call_id


async def receive_and_answer(calls: httpx.AsyncClient, client_id: UUID, number: str) -> UUID:
    """A call to the client's number pops book version 2; an operator answers it."""
    body = {"dialled_number": number, "caller_number": "+31612345678"}
    pop = expect(await calls.post("/calls", json=body), 201)  # received now, a working morning
    client = {"id": str(client_id), "name": "Installatiebedrijf Bakker B.V.", "language": "nl"}
    assert pop["client"] == client
    assert (pop["book_version"], pop["office_open"]) == (2, True)
    assert pop["greeting"] == "Installatiebedrijf Bakker, goedemorgen (v2)"
    answer = {"language": "nl"}
    expect(await calls.post(f"/calls/{pop['call_id']}/answer", json=answer), 200)
    return UUID(pop["call_id"])


STAFF_SUBJECT = f"staff-key:{parse(STAFF_KEY)[0]}"
"""The subject the test's staff key acts as (signed-in operators: tests/security)."""
NOTE = {
    "caller_name": "Jan de Vries",
    "caller_company": "De Vries Bouw",
    "caller_number": "+31612345678",
    "message": "Wants a quote for a heat pump",
    "follow_up": "call_back",
    "follow_up_detail": "tomorrow morning",
    "actions_taken": "Put him on the call-back list",
    "information_given": "Opening hours",
}
EXPECTED = [
    "CallReceived", "CallAnswered", "NoteRecorded", "CallMarkedNonBillable",
    "CallBillabilityRestored", "CallEnded",
]  # fmt: skip


async def check_kafka(world: World, client_id: UUID, call_id: UUID) -> None:
    """Exactly these events of the call on the calls topic; the client's set-up on intake's."""
    found: list[Event] = await events_on_topic(
        world, "calls", lambda e: e.client_id == client_id, len(EXPECTED), what="call events"
    )
    assert [e.type for e in found] == EXPECTED
    assert {getattr(e, "call_id", None) for e in found} == {call_id}
    notes = [e for e in found if isinstance(e, NoteRecorded)]
    assert [n.book_version for n in notes] == [2]
    intake_types = [e.type for e in await topic_events(world, "intake") if e.client_id == client_id]
    assert intake_types[:2] == ["ClientRegistered", "NumberAssigned"]
    assert intake_types.count("SecretaryBookRevised") == 3
