"""The rules of a call: given its state and a command, the events that follow (or a refusal)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from libs.errors import Conflict, Forbidden, Rejected
from libs.events.calls import (
    CallAnswered,
    CallBillabilityRestored,
    CallEnded,
    CallMarkedNonBillable,
    CallReceived,
    CallTransferred,
    EscalationRequested,
    NoteRecorded,
    VoicemailRecorded,
)
from libs.events.envelope import SYSTEM, Actor, Event
from libs.office_hours import office_open
from services.calls.domain.commands import (
    AnswerCall,
    CallCommand,
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
from services.calls.domain.errors import CallNotFound, NumberNotHeld
from services.calls.domain.model import Call

CLOCK_TOLERANCE = timedelta(minutes=5)
"""How far in the future a telephony timestamp may lie (clocks differ a little)."""


def decide(command: Command, state: Call | None) -> list[Event]:
    """The events a command produces on a call, or a refusal (libs.errors) saying why not."""
    if isinstance(command, ReceiveCall):
        return receive(command, state)
    call = _existing(command, state)
    match command:
        case AnswerCall():
            return answer(command, call)
        case RecordNote():
            return note(command, call)
        case RequestEscalation():
            return escalate(command, call)
        case TransferCall():
            return transfer(command, call)
        case RecordVoicemail():
            return voicemail(command, call)
        case EndCall():
            return end(command, call)
        case MarkNonBillable():
            return mark_non_billable(command, call)
        case RestoreBillability():
            return restore_billability(command, call)


def reachable(client_id: UUID, tenant: UUID | None) -> bool:
    """Whether a caller bound to `tenant` (None: to no one client) may reach a client's calls.

    The read model's queries filter by the same rule: `($n::uuid IS NULL OR client_id = $n)`.
    """
    return tenant is None or tenant == client_id


def may_import(actor: Actor | None) -> bool:
    """Only staff import calls from elsewhere (an import escapes the backdating window)."""
    return actor is not None and actor.kind == "staff"


def receive(command: ReceiveCall, state: Call | None) -> list[Event]:
    """Record a new call with its screen-pop facts; the same call reported again adds nothing."""
    if command.imported and not may_import(command.actor):
        raise Forbidden("only staff may import calls")
    if state is not None:
        _existing(command, state)
        return []
    line = command.line
    if line is None or not reachable(line.client_id, command.tenant):
        raise NumberNotHeld(f"no client holds {command.dialled_number}")
    if line.status == "offboarded":
        raise NumberNotHeld(f"the client that held {command.dialled_number} has left")
    check_received_at(command, line)
    event = CallReceived(
        call_id=command.call_id,
        client_id=line.client_id,
        occurred_at=command.at,
        actor=command.actor or Actor(kind="telephony"),
        dialled_number=command.dialled_number,
        caller_number=command.caller_number,
        received_at=command.received_at,
        book_version=line.book_version,
        office_open=office_open(line.office_hours, command.received_at),
        caller_language=command.caller_language,
        imported=command.imported,
    )
    return [event]


def check_received_at(command: ReceiveCall, line: Line) -> None:
    """Refuse a time in the future, before the number was the client's, or beyond the window."""
    received = command.received_at
    if received > command.at + CLOCK_TOLERANCE:
        raise Rejected("received_at lies in the future")
    if line.held_since is not None and received < line.held_since:
        raise Rejected(
            f"received_at {received.isoformat()} lies before {command.dialled_number} was "
            f"assigned to the client ({line.held_since.isoformat()})"
        )
    window = command.max_backdate
    if not command.imported and received < command.at - window:
        raise Rejected(
            f"received_at lies more than {int(window.total_seconds())} seconds in the past; "
            "only a staff import may record an older call"
        )


def answer(command: AnswerCall, call: Call) -> list[Event]:
    """An operator picks up a call that is still ringing."""
    _not_ended(call, "answered")
    if call.stage != "ringing":
        raise Conflict(f"call {call.call_id} {_stage_text(call)}; it cannot be answered")
    actor = command.actor or Actor(kind="operator", id=command.operator_id)
    return [
        CallAnswered(
            **_envelope(call, command, actor),
            operator_id=command.operator_id,
            language=command.language,
        )
    ]


def note(command: RecordNote, call: Call) -> list[Event]:
    """The message for the client, with the book version the operator had on screen."""
    if call.stage == "ringing":
        raise Conflict(
            f"nobody answered call {call.call_id} and it has no voicemail: there is nothing to note"
        )
    operator = command.operator_id or call.operator_id
    if operator is None:
        raise Rejected("operator_id is required: no operator answered this call")
    actor = command.actor or Actor(kind="operator", id=operator)
    return [
        NoteRecorded(
            **_envelope(call, command, actor),
            operator_id=operator,
            book_version=call.book_version,
            caller_name=command.caller_name,
            caller_company=command.caller_company,
            caller_number=command.caller_number,
            message=command.message,
            follow_up=command.follow_up,
            follow_up_detail=command.follow_up_detail,
            actions_taken=command.actions_taken,
            information_given=command.information_given,
        )
    ]


def escalate(command: RequestEscalation, call: Call) -> list[Event]:
    """Ask routing to escalate, under one of the urgency rules of the book on screen."""
    if call.stage == "ringing":
        raise Conflict(f"call {call.call_id} has not been answered: answer it before escalating")
    if command.urgency_kind not in command.urgency_kinds:
        known = ", ".join(sorted(command.urgency_kinds)) or "none"
        raise Rejected(
            f"{command.urgency_kind!r} is not an urgency rule of the secretary book "
            f"(version {call.book_version}); its rules: {known}"
        )
    return [
        EscalationRequested(
            **_envelope(call, command),
            escalation_id=command.escalation_id,
            urgency_kind=command.urgency_kind,
            reason=command.reason,
            book_version=call.book_version,
        )
    ]


def transfer(command: TransferCall, call: Call) -> list[Event]:
    """Put a call in progress through to another number."""
    _not_ended(call, "transferred")
    if call.stage != "answered":
        raise Conflict(
            f"call {call.call_id} {_stage_text(call)}; only a call with an operator can be "
            "transferred"
        )
    if command.escalation_id is not None and command.escalation_id not in call.escalation_ids:
        raise Rejected(f"escalation {command.escalation_id} was not requested on this call")
    return [
        CallTransferred(
            **_envelope(call, command),
            to_number=command.to_number,
            escalation_id=command.escalation_id,
        )
    ]


def voicemail(command: RecordVoicemail, call: Call) -> list[Event]:
    """A call nobody answered left a voicemail (possibly reported after it ended)."""
    if call.stage != "ringing":
        raise Conflict(f"call {call.call_id} {_stage_text(call)}; it cannot take a voicemail")
    return [
        VoicemailRecorded(
            **_envelope(call, command, command.actor or Actor(kind="telephony")),
            recording_ref=command.recording_ref,
            duration_seconds=command.duration_seconds,
            summary=command.summary,
        )
    ]


def end(command: EndCall, call: Call) -> list[Event]:
    """Close the line."""
    _not_ended(call, "ended")
    return [CallEnded(**_envelope(call, command), ended_at=command.at)]


def mark_non_billable(command: MarkNonBillable, call: Call) -> list[Event]:
    """Mark the call non-billable for one of the agreed reasons."""
    if call.non_billable is not None:
        raise Conflict(
            f"call {call.call_id} is already marked non-billable ({call.non_billable.reason}); "
            "revert that mark first"
        )
    if command.reason == "cold_call" and not command.cold_calls_free:
        raise Rejected(
            "cold_call is a non-billable reason only for clients who agreed that cold calls "
            "are free; this client did not"
        )
    return [
        CallMarkedNonBillable(
            **_envelope(call, command),
            reason=command.reason,
            comment=command.comment,
            evidence=command.evidence,
        )
    ]


def restore_billability(command: RestoreBillability, call: Call) -> list[Event]:
    """Revert the call's non-billable mark."""
    if call.non_billable is None:
        raise Conflict(f"call {call.call_id} is not marked non-billable: nothing to revert")
    return [CallBillabilityRestored(**_envelope(call, command), comment=command.comment)]


def _existing(command: CallCommand, state: Call | None) -> Call:
    """The call, if it exists and is the caller's to reach; else the same CallNotFound."""
    if state is None or not reachable(state.client_id, command.tenant):
        raise CallNotFound(f"no call {command.call_id}")
    return state


def _not_ended(call: Call, verb: str) -> None:
    if call.ended:
        raise Conflict(f"call {call.call_id} has ended; it cannot be {verb}")


def _stage_text(call: Call) -> str:
    return {
        "ringing": "has not been answered",
        "answered": f"was already answered by {call.operator_id}",
        "transferred": "was transferred",
        "voicemail": "went to voicemail",
    }[call.stage]


def _envelope(call: Call, command: CallCommand, actor: Actor | None = None) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "client_id": call.client_id,
        "occurred_at": command.at,
        "correlation_id": call.correlation_id,
        "actor": actor or command.actor or _default_actor(call),
    }


def _default_actor(call: Call) -> Actor:
    if call.operator_id is not None:
        return Actor(kind="operator", id=call.operator_id)
    return SYSTEM
