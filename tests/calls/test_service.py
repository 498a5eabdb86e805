"""Calls' service layer in-process: command handlers and reactions on the real PostgreSQL.

No processes and no Kafka: intake's events are handed to calls' reactions as the consumer
would, commands go straight to the command handlers, and every test runs in one transaction
that is rolled back at its end (the handlers' own transactions become savepoints). One test
needs two real transactions racing, so it uses a schema of its own that it drops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from libs.errors import Conflict, Rejected
from libs.events import (
    CallAnswered,
    CallReceived,
    ClientOffboarded,
    NumberReleased,
    OfficeHours,
    UrgencyRule,
    WeeklySchedule,
    new_id,
)
from libs.platform.db import migrate
from libs.platform.store import PLUMBING_MIGRATIONS, EventStore
from services.calls import read_model
from services.calls.commands import Outcome, execute
from services.calls.domain.commands import (
    AnswerCall,
    Command,
    EndCall,
    MarkNonBillable,
    ReceiveCall,
    RecordNote,
    RecordVoicemail,
    RequestEscalation,
    RestoreBillability,
    TransferCall,
)
from services.calls.domain.errors import CallNotFound, NumberNotHeld
from services.calls.domain.model import fold
from services.calls.migrations import MIGRATIONS
from services.calls.schemas import CallRead
from tests.calls.inprocess import MONDAY_10, STAFF, Calls
from tests.support.builders import book_revised, fresh_number, number_assigned, registered

pytestmark = [pytest.mark.infra]
PREFIX = "inproc"
NIGHT = OfficeHours(weekly=WeeklySchedule(mon=(), tue=(), wed=(), thu=(), fri=()))  # never open


def answer(call_id: UUID, operator: str = "op-anna") -> AnswerCall:
    """The operator picks the call up in Dutch."""
    return AnswerCall(call_id=call_id, at=MONDAY_10, operator_id=operator, language="nl")


def escalate(call_id: UUID, kind: str = "leak") -> RequestEscalation:
    """The operator escalates the call under an urgency rule."""
    return RequestEscalation(
        call_id=call_id, at=MONDAY_10, escalation_id=new_id(), urgency_kind=kind, reason="urgent"
    )


def note(call_id: UUID, operator: str | None = None) -> RecordNote:
    """The message for the client."""
    return RecordNote(
        call_id=call_id, at=MONDAY_10, operator_id=operator, caller_name="Piet", message="Leak"
    )


def mark(call_id: UUID, reason: Any = "wrong_number") -> MarkNonBillable:
    """Do not bill the call."""
    return MarkNonBillable(call_id=call_id, at=MONDAY_10, reason=reason, comment="no")


async def test_a_call_to_a_held_number_records_the_book_on_screen_and_the_office_state(
    calls: Calls,
) -> None:
    number = await calls.client()
    outcome = await calls.call(number)
    [received] = outcome.events
    assert isinstance(received, CallReceived)
    assert (received.book_version, received.office_open) == (1, True)
    assert (outcome.call.stage, outcome.call.version) == ("ringing", 1)
    row = await calls.row(received.call_id)
    assert (row["dialled_number"], row["stage"], row["version"]) == (number, "ringing", 1)


async def test_a_call_to_a_number_nobody_holds_is_refused_and_records_nothing(
    calls: Calls,
) -> None:
    call_id = new_id()
    with pytest.raises(NumberNotHeld, match="no client holds"):
        await calls.call(fresh_number(), call_id)
    assert await calls.events(call_id) == []
    assert await read_model.get_call(calls.store.pool, calls.store.schema, call_id, None) is None


async def test_a_call_to_the_number_of_a_client_that_left_is_refused(calls: Calls) -> None:
    number = await calls.client()
    [client_id] = await calls.store.pool.fetchval(
        f"SELECT array_agg(client_id) FROM {calls.store.schema}.directory_clients"
    )
    await calls.intake(ClientOffboarded(client_id=client_id, occurred_at=calls.now))
    with pytest.raises(NumberNotHeld, match="has left"):
        await calls.call(number)


async def test_the_same_call_reported_twice_is_recorded_once(calls: Calls) -> None:
    number = await calls.client()
    call_id = new_id()
    await calls.call(number, call_id)
    again = await calls.call(number, call_id)
    assert again.events == []
    assert len(await calls.events(call_id)) == 1


async def test_a_command_on_a_call_that_does_not_exist_is_not_found(calls: Calls) -> None:
    with pytest.raises(CallNotFound):
        await calls.run(answer(new_id()))


async def test_a_call_is_answered_once(calls: Calls) -> None:
    call = (await calls.call(await calls.client())).call
    await calls.run(answer(call.call_id, "op-anna"))
    with pytest.raises(Conflict, match="already answered by op-anna"):
        await calls.run(answer(call.call_id, "op-bob"))
    assert len(await calls.events(call.call_id)) == 2


async def test_an_escalation_follows_the_rules_of_the_book_that_was_on_screen(
    calls: Calls,
) -> None:
    number = await calls.client()
    call = (await calls.call(number)).call
    client_id = call.client_id
    fire = UrgencyRule(kind="fire", description="Fire", channels=("sms",))
    await calls.intake(book_revised(client_id, 2, calls.now, urgency_rules=(fire,)))
    await calls.run(answer(call.call_id))
    with pytest.raises(Rejected, match=r"'fire' is not an urgency rule .* \(version 1\)"):
        await calls.run(escalate(call.call_id, "fire"))
    outcome = await calls.run(escalate(call.call_id, "leak"))
    assert outcome.call.escalation_ids == (outcome.events[0].escalation_id,)  # type: ignore[attr-defined]


async def test_an_escalation_needs_an_answered_call(calls: Calls) -> None:
    call = (await calls.call(await calls.client())).call
    with pytest.raises(Conflict, match="answer it before escalating"):
        await calls.run(escalate(call.call_id))


async def test_a_cold_call_is_non_billable_only_for_clients_who_agreed(calls: Calls) -> None:
    strict = (await calls.call(await calls.client(cold_calls_free=False))).call
    with pytest.raises(Rejected, match="cold_call is a non-billable reason only"):
        await calls.run(mark(strict.call_id, "cold_call"))
    lenient = (await calls.call(await calls.client(cold_calls_free=True))).call
    marked = await calls.run(mark(lenient.call_id, "cold_call"))
    assert marked.call.non_billable is not None
    assert marked.call.non_billable.reason == "cold_call"


async def test_a_mark_is_reverted_before_another_is_made(calls: Calls) -> None:
    call = (await calls.call(await calls.client())).call
    await calls.run(mark(call.call_id))
    with pytest.raises(Conflict, match="already marked non-billable \\(wrong_number\\)"):
        await calls.run(mark(call.call_id, "urgent_family_matter"))
    await calls.run(RestoreBillability(call_id=call.call_id, at=MONDAY_10))
    assert (await calls.row(call.call_id))["non_billable"] is None
    with pytest.raises(Conflict, match="nothing to revert"):
        await calls.run(RestoreBillability(call_id=call.call_id, at=MONDAY_10))


async def test_a_voicemail_after_hours_is_noted_by_whoever_picks_it_up(calls: Calls) -> None:
    call = (await calls.call(await calls.client(hours=NIGHT))).call
    assert call.office_open is False
    voicemail = RecordVoicemail(
        call_id=call.call_id, at=MONDAY_10, recording_ref="rec-1", duration_seconds=30
    )
    await calls.run(voicemail)
    with pytest.raises(Rejected, match="operator_id is required"):
        await calls.run(note(call.call_id))
    noted = await calls.run(note(call.call_id, "op-bob"))
    assert noted.call.note is not None
    assert noted.call.note.operator_id == "op-bob"
    with pytest.raises(Conflict, match="went to voicemail"):
        await calls.run(answer(call.call_id))


async def test_a_transfer_names_an_escalation_of_the_call_or_none(calls: Calls) -> None:
    call = (await calls.call(await calls.client())).call
    await calls.run(answer(call.call_id))
    stranger = TransferCall(
        call_id=call.call_id, at=MONDAY_10, to_number="+31687654321", escalation_id=new_id()
    )
    with pytest.raises(Rejected, match="was not requested on this call"):
        await calls.run(stranger)
    escalated = await calls.run(escalate(call.call_id))
    escalation_id = escalated.call.escalation_ids[0]
    done = await calls.run(
        TransferCall(
            call_id=call.call_id,
            at=MONDAY_10,
            to_number="+31687654321",
            escalation_id=escalation_id,
        )
    )
    assert (done.call.stage, done.call.transferred_to) == ("transferred", "+31687654321")


def comparable(row: dict[str, Any]) -> CallRead:
    """A read row as the API answers it (JSON columns parsed)."""
    values = dict(row)
    for column in ("voicemail", "note", "escalations", "non_billable"):
        if isinstance(values[column], str):
            values[column] = json.loads(values[column])
    return CallRead.model_validate(values)


async def test_the_read_row_is_the_fold_of_the_calls_stream(calls: Calls) -> None:
    call = (await calls.call(await calls.client())).call
    commands: Sequence[Command] = [
        answer(call.call_id),
        note(call.call_id),
        escalate(call.call_id),
        note(call.call_id),
        mark(call.call_id),
        EndCall(call_id=call.call_id, at=MONDAY_10),
    ]
    for command in commands:
        await calls.run(command)
    stored = await calls.events(call.call_id)
    folded = fold(stored)
    assert folded is not None
    row = await calls.row(call.call_id)
    rebuilt = read_model.row_of(folded, updated_at=stored[-1].occurred_at)
    assert comparable(row) == comparable(rebuilt)
    read = comparable(row)
    assert (read.stage, read.operator_id, read.notes_count, read.version) == (
        "answered", "op-anna", 2, 7
    )  # fmt: skip
    assert read.ended_at is not None
    assert read.non_billable is not None
    assert [e.urgency_kind for e in read.escalations] == ["leak"]
    assert row["updated_at"] == stored[-1].occurred_at
    history = await read_model.history(calls.store.pool, calls.store.schema, call.call_id, None)
    assert [h["stream_version"] for h in history] == list(range(1, 8))
    assert [h["type"] for h in history] == [e.type for e in stored]


class RacingStore(EventStore):
    """A store whose next `waiting` appends wait for one another, so they race for real."""

    def __init__(self, pool: asyncpg.Pool, schema: str, racers: int) -> None:
        super().__init__(pool, schema=schema, service="calls", prefix=PREFIX)
        self.barrier, self.waiting = asyncio.Barrier(racers), 0

    async def append(self, *args: Any, **kwargs: Any) -> int:
        """Append; a racer waits until all the racers have decided."""
        if self.waiting > 0:
            self.waiting -= 1
            await asyncio.wait_for(self.barrier.wait(), timeout=10)
        return await super().append(*args, **kwargs)


@pytest.fixture
async def racing(database_url: str) -> AsyncIterator[RacingStore]:
    """Calls' tables in a committed schema of their own (dropped after), for two racers."""
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    assert pool is not None
    schema = f"t{uuid4().hex[:10]}_calls"
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, (*PLUMBING_MIGRATIONS, *MIGRATIONS))
        yield RacingStore(pool, schema, racers=2)
    finally:
        await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await pool.close()


async def test_two_operators_answering_at_once_one_wins_the_other_is_decided_again(
    racing: RacingStore,
) -> None:
    calls = Calls(racing)
    number = await calls.client()
    call_id = (await calls.call(number)).call.call_id
    racing.waiting = 2
    with capture_logs() as logs:
        results = await asyncio.gather(
            execute(racing, answer(call_id, "op-anna")),
            execute(racing, answer(call_id, "op-bob")),
            return_exceptions=True,
        )
    assert [e["attempt"] for e in logs if e["event"] == "command.conflict"] == [1]
    [won] = [r for r in results if isinstance(r, Outcome)]
    [lost] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(lost, Conflict)
    assert f"was already answered by {won.call.operator_id}" in str(lost), (
        "decided again on the winner's event, not given up"
    )
    stored = await calls.events(call_id)
    assert [type(e) for e in stored] == [CallReceived, CallAnswered]
    assert (await calls.row(call_id))["operator_id"] == won.call.operator_id


async def test_a_call_before_its_number_was_assigned_to_the_client_is_refused(
    calls: Calls,
) -> None:
    number = await calls.client()  # assigned at MONDAY_10
    for received_at in (datetime(1, 1, 1, 12, tzinfo=UTC), datetime(1900, 6, 1, tzinfo=UTC),
                        MONDAY_10 - timedelta(seconds=1)):  # fmt: skip
        call_id = new_id()
        for imported in (False, True):
            with pytest.raises(Rejected, match="was assigned to the client"):
                await calls.run(
                    receive(calls, number, received_at, call_id=call_id, imported=imported)
                )
        assert await calls.events(call_id) == []
    outcome = await calls.run(receive(calls, number, MONDAY_10))
    assert outcome.call.received_at == MONDAY_10


async def test_a_call_belongs_to_whoever_held_the_number_when_it_was_received(
    calls: Calls,
) -> None:
    number = await calls.client()
    first = (await calls.call(number)).call.client_id
    moved_at = calls.now + timedelta(minutes=10)
    second = registered(at=moved_at)
    released = NumberReleased(client_id=first, occurred_at=moved_at, number=number)
    await calls.intake(second, number_assigned(second.client_id, number, moved_at))
    calls.now = moved_at + timedelta(minutes=20)
    before_the_move = await calls.run(receive(calls, number, moved_at - timedelta(minutes=5)))
    after_the_move = await calls.run(receive(calls, number, moved_at + timedelta(minutes=5)))
    assert (before_the_move.call.client_id, after_the_move.call.client_id) == (
        first, second.client_id
    )  # fmt: skip
    await calls.intake(released)  # the old holder's release, seen after the new assignment
    again = await calls.run(receive(calls, number, moved_at - timedelta(minutes=5)))
    assert again.call.client_id == first


async def test_a_number_released_and_not_yet_reassigned_leads_nowhere_in_between(
    calls: Calls,
) -> None:
    number = await calls.client()
    client_id = (await calls.call(number)).call.client_id
    released_at = calls.now
    await calls.intake(NumberReleased(client_id=client_id, occurred_at=released_at, number=number))
    calls.now += timedelta(minutes=5)
    with pytest.raises(NumberNotHeld):
        await calls.run(receive(calls, number, calls.now))
    later = registered(at=calls.now + timedelta(minutes=10))
    await calls.intake(later, number_assigned(later.client_id, number, later.occurred_at))
    calls.now += timedelta(minutes=20)
    with pytest.raises(Rejected, match="was assigned to the client"):
        await calls.run(receive(calls, number, released_at + timedelta(minutes=1)))
    older = await calls.run(receive(calls, number, released_at - timedelta(minutes=1)))
    assert older.call.client_id == client_id


async def test_a_call_further_back_than_the_window_is_refused_unless_imported(
    calls: Calls,
) -> None:
    number = await calls.client()
    calls.now += timedelta(days=30)
    old = calls.now - timedelta(days=2)
    with pytest.raises(Rejected, match="more than 3600 seconds in the past"):
        await calls.run(receive(calls, number, old))
    imported = await calls.run(receive(calls, number, old, imported=True))
    [event] = imported.events
    assert isinstance(event, CallReceived)
    assert (event.received_at, event.imported) == (old, True)


def receive(
    calls: Calls, number: str, received_at: datetime, *, call_id: UUID | None = None,
    imported: bool = False,
) -> ReceiveCall:  # fmt: skip
    """A call to the number reported now as received at `received_at` (imported by staff)."""
    return ReceiveCall(
        call_id=call_id or new_id(),
        at=calls.now,
        actor=STAFF.actor() if imported else None,
        dialled_number=number,
        caller_number=None,
        received_at=received_at,
        imported=imported,
    )


async def test_post_calls_keeps_to_the_window_and_records_a_staff_import(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    number = await calls.client()
    calls.now += timedelta(days=3)
    body = {"dialled_number": number}
    recent = (calls.now - timedelta(minutes=10)).isoformat()
    assert (await http.post("/calls", json={**body, "received_at": recent})).status_code == 201
    older = (calls.now - timedelta(minutes=10, seconds=1)).isoformat()
    refused = await http.post("/calls", json={**body, "received_at": older})
    assert refused.status_code == 422, refused.text
    assert "more than 600 seconds in the past" in refused.json()["detail"]
    before = (MONDAY_10 - timedelta(days=1)).isoformat()
    for imported in (False, True):
        early = {**body, "received_at": before, "import": imported}
        assert (await http.post("/calls", json=early)).status_code == 422
    for flag in ("true", 1):
        malformed = {**body, "received_at": older, "import": flag}
        assert (await http.post("/calls", json=malformed)).status_code == 422
    staff = await http.post("/calls", json={**body, "received_at": older, "import": True})
    assert staff.status_code == 201, staff.text
    [event] = await calls.events(UUID(staff.json()["call_id"]))
    assert isinstance(event, CallReceived)
    assert (event.imported, event.received_at.isoformat()) == (True, older)
    rows = await calls.store.pool.fetchval(f"SELECT count(*) FROM {calls.store.schema}.calls")
    assert rows == 2


async def test_a_voicemail_duration_is_a_json_integer(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    number = await calls.client(hours=NIGHT)
    call_id = (await calls.call(number)).call.call_id
    for duration in ("31", True, 31.0):
        body = {"recording_ref": "rec-1", "duration_seconds": duration}
        answer = await http.post(f"/calls/{call_id}/voicemail", json=body)
        assert answer.status_code == 422, (duration, answer.text)
    assert len(await calls.events(call_id)) == 1
    body = {"recording_ref": "rec-1", "duration_seconds": 31}
    assert (await http.post(f"/calls/{call_id}/voicemail", json=body)).status_code == 201
