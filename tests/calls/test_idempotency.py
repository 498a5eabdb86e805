"""A real calls process: a POST /calls repeated with its Idempotency-Key records one call.

Whether a repeat appended a second event is seen on the topic: a call taken without a key
after the repeats is published after anything they appended, so once it is on the topic the
count of the client's CallReceived is final.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.events import CallReceived, Event
from tests.calls.conftest import seed_client
from tests.support.stack import Stack, events_on_topic, expect

pytestmark = [pytest.mark.infra]


async def test_a_repeated_post_with_the_key_records_one_call(stack: Stack) -> None:
    client = await seed_client(stack)
    body, headers = {"dialled_number": client.number}, {"Idempotency-Key": str(uuid4())}
    first = await stack.http.post("/calls", json=body, headers=headers)
    again = await stack.http.post("/calls", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await stack.http.post("/calls", json={**body, "caller_language": "en"}, headers=headers)
    assert other.status_code == 422, other.text
    marker = expect(await stack.http.post("/calls", json=body), 201)

    def received(event: Event) -> bool:
        return isinstance(event, CallReceived) and event.client_id == client.client_id

    calls = await events_on_topic(stack.world, "calls", received, 2, what="CallReceived")
    assert sorted(str(e.call_id) for e in calls) == sorted(  # type: ignore[attr-defined]
        [first.json()["call_id"], marker["call_id"]]
    )


async def test_a_repeated_note_with_the_key_is_recorded_once(stack: Stack) -> None:
    client = await seed_client(stack)
    call = expect(await stack.http.post("/calls", json={"dialled_number": client.number}), 201)
    path, headers = f"/calls/{call['call_id']}", {"Idempotency-Key": "note-1"}
    answer = {"language": "nl"}
    expect(await stack.http.post(f"{path}/answer", json=answer), 200)
    note = {"caller_name": "Jan de Vries", "message": "Boiler leaks, please call back"}
    first = await stack.http.post(f"{path}/notes", json=note, headers=headers)
    again = await stack.http.post(f"{path}/notes", json=note, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    history = expect(await stack.http.get(path), 200)["history"]
    assert [entry["type"] for entry in history].count("NoteRecorded") == 1
