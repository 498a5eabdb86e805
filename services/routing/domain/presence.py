"""What a change of an operator's presence means, as a pure transition.

available: logged in and waiting for a call. busy: on a call, or at work but not taking calls
(a pause). offline: logged out. Any change is allowed: busy straight from offline is logging
in on a pause, and the operator takes no call until they say available. Saying the presence
one already has changes nothing, so the operator keeps their place in the line
(`presence_since`: whoever has been free longest gets the next call). A busy operator keeps
their call while they stay busy; any other presence ends it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from libs.events.envelope import SYSTEM, Actor
from libs.events.routing import OperatorPresenceChanged, Presence
from services.routing.domain.roster import Operator


def changed(
    operator: Operator,
    presence: Presence,
    *,
    at: datetime,
    actor: Actor = SYSTEM,
    call_id: UUID | None = None,
) -> list[OperatorPresenceChanged]:
    """The change to `presence` (busy with `call_id` when given); nothing when it is no change."""
    call = call_id if call_id is not None else _kept_call(operator, presence)
    if presence == operator.presence and call == operator.current_call_id:
        return []
    return [
        OperatorPresenceChanged(
            operator_id=operator.operator_id,
            occurred_at=at,
            actor=actor,
            presence=presence,
            previous=operator.presence,
            call_id=call,
        )
    ]


def taking_call(operator: Operator, call_id: UUID, at: datetime) -> list[OperatorPresenceChanged]:
    """The operator is on the call: busy with it, whatever they were before (they answered)."""
    return changed(operator, "busy", at=at, call_id=call_id)


def releasing_call(
    operator: Operator, call_id: UUID, at: datetime
) -> list[OperatorPresenceChanged]:
    """The call ended or was put through: its operator is free again, at the back of the line."""
    if not busy_with(operator, call_id):
        return []
    return changed(operator, "available", at=at)


def busy_with(operator: Operator, call_id: UUID) -> bool:
    """True while the operator is busy with the call (the roster table indexes the call)."""
    return operator.presence == "busy" and operator.current_call_id == call_id


def _kept_call(operator: Operator, presence: Presence) -> UUID | None:
    return operator.current_call_id if presence == "busy" else None
