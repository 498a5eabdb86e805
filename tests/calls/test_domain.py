"""The calls domain: given these events, when this command, then these events (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.errors import Conflict, DomainError, Forbidden, Rejected
from libs.events import (
    Actor,
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    EscalationRequested,
    Event,
    NonBillableReason,
    NoteRecorded,
    OfficeHours,
    VoicemailRecorded,
)
from services.calls.domain.commands import (
    AnswerCall,
    Command,
    EndCall,
    Line,
    MarkNonBillable,
    ReceiveCall,
    RecordNote,
    RecordVoicemail,
    RequestEscalation,
    RestoreBillability,
    TransferCall,
)
from services.calls.domain.decide import decide, may_import, reachable
from services.calls.domain.errors import CallNotFound, NumberNotHeld
from services.calls.domain.model import evolve, fold

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8059")
CORRELATION = UUID("01890a5d-ac96-774b-bcce-b302099a805a")
RECEIVED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam
NOW = RECEIVED + timedelta(minutes=2)
OTHER_CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a805b")
ANNA = Actor(kind="operator", id="op-anna")
STAFF = Actor(kind="staff", id="staff-eva")
LINE = Line(CLIENT, "active", 3, OfficeHours())
CALL_FIELDS: dict[str, Any] = {
    "call_id": CALL,
    "client_id": CLIENT,
    "occurred_at": NOW,
    "correlation_id": CORRELATION,
}


def received(**overrides: Any) -> CallReceived:
    """The CallReceived that starts every call in these tests (book version 3 on screen)."""
    fields: dict[str, Any] = {
        **CALL_FIELDS,
        "occurred_at": RECEIVED,
        "actor": Actor(kind="telephony"),
        "dialled_number": "+31851234567",
        "caller_number": "+31612345678",
        "received_at": RECEIVED,
        "book_version": 3,
        "office_open": True,
    }
    return CallReceived(**{**fields, **overrides})


def answered() -> CallAnswered:
    return CallAnswered(**CALL_FIELDS, actor=ANNA, operator_id="op-anna", language="nl")


def escalated() -> EscalationRequested:
    return EscalationRequested(
        **CALL_FIELDS, actor=ANNA, escalation_id=ESCALATION, urgency_kind="leak", reason="Flood"
    )


def ended() -> CallEnded:
    return CallEnded(**CALL_FIELDS, ended_at=NOW)


def voicemail_left() -> VoicemailRecorded:
    return VoicemailRecorded(**CALL_FIELDS, recording_ref="vm/1.wav", duration_seconds=30)


def marked(reason: NonBillableReason = "wrong_number") -> CallMarkedNonBillable:
    return CallMarkedNonBillable(**CALL_FIELDS, actor=ANNA, reason=reason)


def restored() -> CallBillabilityRestored:
    return CallBillabilityRestored(**CALL_FIELDS, actor=ANNA)


def when(command: Command, *history: Event) -> list[dict[str, Any]]:
    """The events the command produces on a call with this history, without their ids."""
    return [_comparable(event) for event in decide(command, fold(history))]


def then(*events: Event) -> list[dict[str, Any]]:
    """The expected events, comparable with `when`."""
    return [_comparable(event) for event in events]


def _comparable(event: Event) -> dict[str, Any]:
    return {"class": type(event), **event.model_dump(exclude={"event_id"})}


def receive(**overrides: Any) -> ReceiveCall:
    fields: dict[str, Any] = {
        "call_id": CALL,
        "at": RECEIVED,
        "dialled_number": "+31851234567",
        "caller_number": "+31612345678",
        "received_at": RECEIVED,
        "line": LINE,
    }
    return ReceiveCall(**{**fields, **overrides})


def answer() -> AnswerCall:
    return AnswerCall(call_id=CALL, at=NOW, operator_id="op-anna", language="nl")


def note(**overrides: Any) -> RecordNote:
    fields: dict[str, Any] = {
        "call_id": CALL,
        "at": NOW,
        "operator_id": None,
        "caller_name": "Jan de Vries",
        "caller_company": "De Vries Bouw",
        "caller_number": "+31612345678",
        "message": "Wants a quote for a new roof",
        "follow_up": "call_back",
        "follow_up_detail": "before Friday",
        "actions_taken": "Booked a visit on Tuesday",
        "information_given": "Opening hours",
    }
    return RecordNote(**{**fields, **overrides})


def escalate(kind: str = "leak", kinds: frozenset[str] = frozenset({"leak", "fire"})) -> Command:
    return RequestEscalation(
        call_id=CALL, at=NOW, escalation_id=ESCALATION, urgency_kind=kind, reason="Flood",
        urgency_kinds=kinds,
    )  # fmt: skip


def transfer(escalation_id: UUID | None = None) -> TransferCall:
    return TransferCall(call_id=CALL, at=NOW, to_number="+31687654321", escalation_id=escalation_id)


def voicemail() -> RecordVoicemail:
    return RecordVoicemail(call_id=CALL, at=NOW, recording_ref="vm/1.wav", duration_seconds=30)


def end() -> EndCall:
    return EndCall(call_id=CALL, at=NOW)


def mark(reason: NonBillableReason = "wrong_number", free: bool = False) -> MarkNonBillable:
    return MarkNonBillable(call_id=CALL, at=NOW, actor=ANNA, reason=reason, cold_calls_free=free)


def restore() -> RestoreBillability:
    return RestoreBillability(call_id=CALL, at=NOW, actor=ANNA)


class TestReceive:
    def test_a_call_to_a_held_number_records_the_book_version_and_office_state(self) -> None:
        event = decide(receive(), None)[0]
        assert _comparable(event) == _comparable(received(correlation_id=event.correlation_id))

    def test_after_hours_the_call_is_recorded_with_the_office_closed(self) -> None:
        evening = datetime(2026, 1, 5, 16, 30, tzinfo=UTC)  # 17:30 in Amsterdam
        [event] = decide(receive(received_at=evening, at=evening), None)
        assert isinstance(event, CallReceived)
        assert event.office_open is False

    def test_a_client_without_a_book_yet_records_no_book_version(self) -> None:
        [event] = decide(receive(line=Line(CLIENT, "registered", None, OfficeHours())), None)
        assert isinstance(event, CallReceived)
        assert event.book_version is None

    def test_the_same_call_reported_twice_adds_nothing(self) -> None:
        assert when(receive(), received()) == []

    def test_a_number_nobody_holds_is_not_found(self) -> None:
        with pytest.raises(NumberNotHeld, match=r"no client holds \+31851234567"):
            decide(receive(line=None), None)

    def test_a_number_of_an_offboarded_client_is_not_found(self) -> None:
        with pytest.raises(NumberNotHeld, match="has left"):
            decide(receive(line=Line(CLIENT, "offboarded", 3, OfficeHours())), None)

    def test_a_call_received_in_the_future_is_rejected(self) -> None:
        with pytest.raises(Rejected, match="future"):
            decide(receive(received_at=RECEIVED + timedelta(hours=1)), None)


HELD = Line(CLIENT, "active", 3, OfficeHours(), held_since=datetime(2025, 12, 1, tzinfo=UTC))
"""The client has held the number since 1 December 2025."""


class TestWhenACallWasReceived:
    @pytest.mark.parametrize(
        "received_at",
        [
            datetime(1, 1, 1, 12, tzinfo=UTC),
            datetime(1900, 6, 1, 9, tzinfo=UTC),
            datetime(2025, 11, 30, 23, 59, tzinfo=UTC),
        ],
        ids=["year 1", "1900", "a minute before the assignment"],
    )
    def test_not_before_its_number_was_assigned_to_the_client(self, received_at: datetime) -> None:
        for imported in (False, True):
            command = receive(received_at=received_at, line=HELD, imported=imported, actor=STAFF)
            with pytest.raises(Rejected, match="before \\+31851234567 was assigned"):
                decide(command, None)

    def test_from_the_instant_of_the_assignment_on(self) -> None:
        since = HELD.held_since
        assert since is not None
        [event] = decide(receive(at=since, received_at=since, line=HELD), None)
        assert isinstance(event, CallReceived)
        assert (event.received_at, event.imported) == (since, False)

    def test_not_further_back_than_the_window(self) -> None:
        hour_ago = NOW - timedelta(hours=1)
        assert decide(receive(at=NOW, received_at=hour_ago, line=HELD), None)
        too_old = receive(at=NOW, received_at=hour_ago - timedelta(seconds=1), line=HELD)
        with pytest.raises(Rejected, match="more than 3600 seconds in the past"):
            decide(too_old, None)

    def test_the_window_is_the_services_setting(self) -> None:
        day_ago = NOW - timedelta(days=1)
        narrow = receive(at=NOW, received_at=NOW - timedelta(seconds=61), line=HELD,
                         max_backdate=timedelta(minutes=1))  # fmt: skip
        with pytest.raises(Rejected, match="more than 60 seconds"):
            decide(narrow, None)
        wide = receive(at=NOW, received_at=day_ago, line=HELD, max_backdate=timedelta(days=2))
        assert decide(wide, None)

    def test_a_staff_import_may_lie_further_back_and_is_recorded_as_imported(self) -> None:
        month_ago = NOW - timedelta(days=30)
        command = receive(at=NOW, received_at=month_ago, line=HELD, imported=True, actor=STAFF)
        [event] = decide(command, None)
        assert isinstance(event, CallReceived)
        assert (event.received_at, event.imported, event.actor) == (month_ago, True, STAFF)

    def test_an_import_is_not_in_the_future_either(self) -> None:
        command = receive(received_at=RECEIVED + timedelta(hours=1), imported=True, actor=STAFF)
        with pytest.raises(Rejected, match="future"):
            decide(command, None)


class TestWhoMayImport:
    def test_only_staff_may_import(self) -> None:
        assert may_import(STAFF)
        assert not any(may_import(actor) for actor in (ANNA, Actor(kind="client"), None))

    @pytest.mark.parametrize(
        "actor", [ANNA, Actor(kind="client", id="c"), Actor(kind="telephony"), None],
        ids=["operator", "client", "telephony", "nobody"],
    )  # fmt: skip
    def test_an_import_by_anyone_but_staff_is_forbidden(self, actor: Actor | None) -> None:
        month_ago = NOW - timedelta(days=30)
        command = receive(at=NOW, received_at=month_ago, line=HELD, imported=True, actor=actor)
        with pytest.raises(Forbidden, match="only staff may import"):
            decide(command, None)

    def test_an_operator_records_a_recent_call_that_is_not_imported(self) -> None:
        [event] = decide(receive(actor=ANNA), None)
        assert isinstance(event, CallReceived)
        assert (event.actor, event.imported) == (ANNA, False)


class TestTenants:
    """A caller bound to one client (its `tenant`) reaches that client's calls and no other's."""

    def test_a_caller_bound_to_no_client_reaches_every_client(self) -> None:
        assert reachable(CLIENT, None)
        assert reachable(OTHER_CLIENT, None)

    def test_a_caller_bound_to_a_client_reaches_only_that_one(self) -> None:
        assert reachable(CLIENT, CLIENT)
        assert not reachable(OTHER_CLIENT, CLIENT)

    def test_another_clients_number_is_as_unknown_as_a_number_nobody_holds(self) -> None:
        with pytest.raises(NumberNotHeld, match=r"^no client holds \+31851234567$"):
            decide(receive(tenant=OTHER_CLIENT), None)
        assert decide(receive(tenant=CLIENT), None)

    def test_another_clients_call_reported_again_is_not_found(self) -> None:
        with pytest.raises(CallNotFound, match=f"^no call {CALL}$"):
            decide(receive(tenant=OTHER_CLIENT), fold([received()]))
        assert when(receive(tenant=CLIENT), received()) == []

    @pytest.mark.parametrize(
        "command",
        [answer(), note(), escalate(), transfer(), voicemail(), end(), mark(), restore()],
        ids=lambda command: type(command).__name__,
    )
    def test_every_command_on_another_clients_call_is_the_not_found_of_none(
        self, command: Command
    ) -> None:
        history = fold([received(), answered()])
        with pytest.raises(CallNotFound, match=f"^no call {CALL}$"):
            decide(replace(command, tenant=OTHER_CLIENT), history)
        with pytest.raises(CallNotFound, match=f"^no call {CALL}$"):
            decide(command, None)

    def test_a_command_on_the_callers_own_clients_call_is_decided(self) -> None:
        expected = CallAnswered(**CALL_FIELDS, actor=ANNA, operator_id="op-anna", language="nl")
        assert when(replace(answer(), tenant=CLIENT), received()) == then(expected)


class TestOperatorActions:
    def test_answer_a_ringing_call(self) -> None:
        expected = CallAnswered(**CALL_FIELDS, actor=ANNA, operator_id="op-anna", language="nl")
        assert when(answer(), received()) == then(expected)

    def test_the_note_records_the_book_version_on_screen_and_every_field(self) -> None:
        expected = NoteRecorded(
            **CALL_FIELDS,
            actor=ANNA,
            operator_id="op-anna",
            book_version=3,
            caller_name="Jan de Vries",
            caller_company="De Vries Bouw",
            caller_number="+31612345678",
            message="Wants a quote for a new roof",
            follow_up="call_back",
            follow_up_detail="before Friday",
            actions_taken="Booked a visit on Tuesday",
            information_given="Opening hours",
        )
        assert when(note(), received(), answered()) == then(expected)

    def test_a_voicemail_can_be_noted_by_a_named_operator(self) -> None:
        [event] = decide(note(operator_id="op-bob"), fold([received(), voicemail_left()]))
        assert isinstance(event, NoteRecorded)
        assert (event.operator_id, event.actor) == ("op-bob", Actor(kind="operator", id="op-bob"))

    def test_a_note_may_follow_the_end_of_the_call(self) -> None:
        assert len(when(note(), received(), answered(), ended())) == 1

    def test_escalate_under_a_rule_of_the_book_on_screen(self) -> None:
        expected = EscalationRequested(
            **CALL_FIELDS, actor=ANNA, escalation_id=ESCALATION, urgency_kind="leak",
            reason="Flood", book_version=3,
        )  # fmt: skip
        assert when(escalate(), received(), answered()) == then(expected)

    def test_transfer_as_part_of_an_escalation(self) -> None:
        expected = CallTransferred(
            **CALL_FIELDS, actor=ANNA, to_number="+31687654321", escalation_id=ESCALATION
        )
        assert when(transfer(ESCALATION), received(), answered(), escalated()) == then(expected)

    def test_voicemail_on_a_call_nobody_answered(self) -> None:
        expected = VoicemailRecorded(
            **CALL_FIELDS,
            actor=Actor(kind="telephony"),
            recording_ref="vm/1.wav",
            duration_seconds=30,
        )
        assert when(voicemail(), received(office_open=False)) == then(expected)

    def test_voicemail_reported_after_the_caller_hung_up(self) -> None:
        assert len(when(voicemail(), received(), ended())) == 1

    def test_end_a_call_in_progress(self) -> None:
        assert when(end(), received(), answered()) == then(
            CallEnded(**CALL_FIELDS, actor=ANNA, ended_at=NOW)
        )

    def test_end_a_call_nobody_answered(self) -> None:
        assert when(end(), received()) == then(CallEnded(**CALL_FIELDS, ended_at=NOW))

    def test_events_of_a_call_share_the_correlation_of_its_arrival(self) -> None:
        history = [received(), answered()]
        events = decide(note(), fold(history)) + decide(end(), fold(history))
        assert {event.correlation_id for event in events} == {CORRELATION}


class TestBillability:
    @pytest.mark.parametrize(
        "reason",
        [
            "wrong_number",
            "urgent_family_matter",
            "caller_follows_up_themselves",
            "incomplete_intake",
        ],
    )
    def test_mark_for_an_agreed_reason(self, reason: NonBillableReason) -> None:
        assert when(mark(reason), received(), answered(), ended()) == then(marked(reason))

    def test_cold_call_where_the_client_agreed_cold_calls_are_free(self) -> None:
        assert when(mark("cold_call", free=True), received()) == then(marked("cold_call"))

    def test_cold_call_is_refused_where_the_client_did_not_agree(self) -> None:
        with pytest.raises(Rejected, match="cold calls are free"):
            decide(mark("cold_call", free=False), fold([received()]))

    def test_revert_a_mark(self) -> None:
        assert when(restore(), received(), marked()) == then(restored())

    def test_mark_again_after_a_revert(self) -> None:
        assert when(mark(), received(), marked(), restored()) == then(marked())


ILLEGAL: list[tuple[str, Command, list[Event], type[DomainError], str]] = [
    ("answer an ended call", answer(), [received(), ended()], Conflict, "has ended"),
    ("answer twice", answer(), [received(), answered()], Conflict, "already answered"),
    ("answer a voicemail", answer(), [received(), voicemail_left()], Conflict, "voicemail"),
    ("note a ringing call", note(), [received()], Conflict, "nothing to note"),
    ("note without operator", note(), [received(), voicemail_left()], Rejected, "operator_id"),
    ("escalate a ringing call", escalate(), [received()], Conflict, "answer it before"),
    ("escalate outside the book", escalate("cat"), [received(), answered()], Rejected,
     "fire, leak"),
    ("escalate without rules", escalate(kinds=frozenset()), [received(), answered()], Rejected,
     "its rules: none"),
    ("transfer a ringing call", transfer(), [received()], Conflict, "not been answered"),
    ("transfer an ended call", transfer(), [received(), answered(), ended()], Conflict, "ended"),
    ("transfer twice", transfer(), [received(), answered(), CallTransferred(**CALL_FIELDS,
     to_number="+31687654321")], Conflict, "was transferred"),
    ("transfer for an unknown escalation", transfer(ESCALATION), [received(), answered()],
     Rejected, "was not requested"),
    ("voicemail on an answered call", voicemail(), [received(), answered()], Conflict, "answered"),
    ("voicemail twice", voicemail(), [received(), voicemail_left()], Conflict, "went to voicemail"),
    ("end twice", end(), [received(), ended()], Conflict, "has ended"),
    ("mark twice", mark(), [received(), marked()], Conflict, "already marked"),
    ("revert a mark never made", restore(), [received()], Conflict, "not marked"),
    ("revert twice", restore(), [received(), marked(), restored()], Conflict, "not marked"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "history", "error", "message"),
    [case[1:] for case in ILLEGAL],
    ids=[case[0] for case in ILLEGAL],
)
def test_illegal_transitions_are_refused(
    command: Command, history: list[Event], error: type[DomainError], message: str
) -> None:
    with pytest.raises(error, match=message):
        decide(command, fold(history))


@pytest.mark.parametrize(
    "command",
    [answer(), note(), escalate(), transfer(), voicemail(), end(), mark(), restore()],
    ids=lambda command: type(command).__name__,
)
def test_every_command_on_a_call_that_does_not_exist_is_not_found(command: Command) -> None:
    with pytest.raises(CallNotFound, match=str(CALL)):
        decide(command, None)


class TestEvolve:
    def test_the_state_follows_the_events(self) -> None:
        call = fold([received(), answered(), escalated(), marked(), ended()])
        assert call is not None
        assert (call.stage, call.ended, call.operator_id) == ("answered", True, "op-anna")
        assert call.non_billable is not None
        assert (call.escalation_ids, call.non_billable.reason, call.version) == (
            (ESCALATION,), "wrong_number", 5
        )  # fmt: skip

    def test_a_stream_must_start_with_the_call_arriving(self) -> None:
        with pytest.raises(ValueError, match="starts with CallReceived"):
            evolve(None, answered())

    def test_a_call_does_not_arrive_twice(self) -> None:
        with pytest.raises(ValueError, match="does not belong"):
            fold([received(), received()])
