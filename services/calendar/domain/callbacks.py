"""The callback list: callers the bureau promised to call back, until that is done.

A note whose follow-up is "call back", and an after-hours voicemail where the client's book
says "call back", each put one callback on the list. It is due at the next opening of the
client's office (its weekly hours, public holidays and closures), goes to an operator who
speaks the caller's language, ends done or failed with a reason, and counts as overdue once
its due time plus a grace period has passed while it is still open. Pure: the caller supplies
the instant, the office hours and the roster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from libs.errors import Conflict, Rejected
from libs.events.values import OfficeHours
from libs.office_hours import next_opening

Source = Literal["note", "voicemail"]
Status = Literal["open", "done", "failed"]
FailReason = Literal["no_answer", "wrong_number", "caller_declined", "other"]
DEFAULT_GRACE = timedelta(minutes=30)
"""An open callback this long past its due time is overdue and escalates."""


@dataclass(frozen=True)
class Callback:
    """One promised callback and where it stands."""

    callback_id: UUID
    client_id: UUID
    call_id: UUID
    source: Source
    language: str
    caller_number: str | None
    caller_name: str
    due_at: datetime
    status: Status = "open"
    assigned_to: str | None = None
    reason: str = ""
    escalated: bool = False


@dataclass(frozen=True)
class Operator:
    """What the list needs to know of an operator on the roster."""

    operator_id: str
    languages: frozenset[str]
    presence: Literal["available", "busy", "offline"]


def due(hours: OfficeHours, asked_at: datetime) -> datetime:
    """When a callback asked for at `asked_at` is due: at once if open, else the next opening."""
    opening = next_opening(hours, asked_at)
    if opening is None:
        raise Rejected("the client's office never opens: a callback could never be due")
    return opening


def schedule(
    callback_id: UUID,
    *,
    client_id: UUID,
    call_id: UUID,
    source: Source,
    language: str,
    caller_number: str | None,
    caller_name: str,
    hours: OfficeHours,
    asked_at: datetime,
) -> Callback:
    """A new open callback, due at the office's next opening."""
    if caller_number is None:
        raise Rejected("a callback needs the caller's number")
    return Callback(
        callback_id=callback_id,
        client_id=client_id,
        call_id=call_id,
        source=source,
        language=language,
        caller_number=caller_number,
        caller_name=caller_name,
        due_at=due(hours, asked_at),
    )


def pick_operator(
    callback: Callback, roster: Sequence[Operator], open_load: Mapping[str, int]
) -> str | None:
    """The operator to give the callback: speaks its language, not offline, least loaded.

    Ties go to the operator whose id sorts first, so the choice is the same on every replay.
    None when nobody on duty speaks the language (the callback waits unassigned).
    """
    speakers = [
        op for op in roster if callback.language in op.languages and op.presence != "offline"
    ]
    if not speakers:
        return None
    chosen = min(speakers, key=lambda op: (open_load.get(op.operator_id, 0), op.operator_id))
    return chosen.operator_id


def assign(callback: Callback, operator_id: str) -> Callback:
    """The callback given to an operator (again, if it was someone else's)."""
    _still_open(callback)
    return replace(callback, assigned_to=operator_id)


def finish(callback: Callback, status: Literal["done", "failed"], reason: str = "") -> Callback:
    """The callback done, or failed for a reason (a failure without one is refused)."""
    _still_open(callback)
    if status == "failed" and reason not in (
        "no_answer",
        "wrong_number",
        "caller_declined",
        "other",
    ):
        raise Rejected(
            "a failed callback needs a reason: no_answer, wrong_number, caller_declined or other"
        )
    return replace(callback, status=status, reason=reason)


def overdue(callback: Callback, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """Whether the callback is still open past its due time plus the grace period."""
    return callback.status == "open" and now >= callback.due_at + grace


def to_escalate(callback: Callback, now: datetime, grace: timedelta = DEFAULT_GRACE) -> bool:
    """Whether the callback is overdue and not escalated yet (it escalates once)."""
    return overdue(callback, now, grace) and not callback.escalated


def escalated(callback: Callback) -> Callback:
    """The callback marked as escalated."""
    return replace(callback, escalated=True)


def _still_open(callback: Callback) -> None:
    if callback.status != "open":
        raise Conflict(f"the callback is {callback.status} already")
