"""Commands on the roster and the events they decide: given an operator, when this, then that.

The API adds operators and changes their details and presence; routing itself marks the
operator it gives a call busy, and frees them when the call ends or is put through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from libs.errors import Forbidden, NotFound
from libs.events.envelope import SYSTEM, Actor, Event
from libs.events.routing import OperatorDetailsChanged, OperatorRegistered, Presence
from libs.events.values import Language
from services.routing.domain.presence import changed, releasing_call, taking_call
from services.routing.domain.roster import Operator


@dataclass(frozen=True, kw_only=True)
class PutOperator:
    """Add an operator (offline at first) or change their name and languages."""

    operator_id: str
    at: datetime
    name: str
    languages: tuple[Language, ...]
    actor: Actor = SYSTEM


@dataclass(frozen=True, kw_only=True)
class SetPresence:
    """The operator says whether they take calls (available), are busy, or log off."""

    operator_id: str
    at: datetime
    presence: Presence
    actor: Actor = SYSTEM


@dataclass(frozen=True, kw_only=True)
class TakeCall:
    """The operator is on a call: routing gave it to them, or they answered it."""

    operator_id: str
    at: datetime
    call_id: UUID


@dataclass(frozen=True, kw_only=True)
class ReleaseCall:
    """The call ended or was put through: whoever was busy with it is free."""

    operator_id: str
    at: datetime
    call_id: UUID


RosterCommand = PutOperator | SetPresence | TakeCall | ReleaseCall


def decide(command: RosterCommand, state: Operator | None) -> list[Event]:
    """The events a roster command produces, or a refusal (libs.errors) saying why not."""
    match command:
        case PutOperator():
            return put(command, state)
        case SetPresence():
            if not may_set_presence(command.actor, command.operator_id):
                raise Forbidden(
                    f"an operator sets only their own presence, not {command.operator_id}'s"
                )
            operator = known(state, command.operator_id)
            return [*changed(operator, command.presence, at=command.at, actor=command.actor)]
        case TakeCall():
            # Someone routing does not know answered: nobody on the roster becomes busy.
            return [] if state is None else [*taking_call(state, command.call_id, command.at)]
        case ReleaseCall():
            return [] if state is None else [*releasing_call(state, command.call_id, command.at)]


def put(command: PutOperator, state: Operator | None) -> list[Event]:
    """Register a new operator, or change what differs; saying the same again changes nothing."""
    languages = tuple(sorted(set(command.languages)))
    fields = {"operator_id": command.operator_id, "occurred_at": command.at, "actor": command.actor}
    if state is None:
        return [OperatorRegistered(**fields, name=command.name, languages=languages)]
    if (state.name, state.languages) == (command.name, frozenset(languages)):
        return []
    return [OperatorDetailsChanged(**fields, name=command.name, languages=languages)]


def may_set_presence(actor: Actor, operator_id: str) -> bool:
    """Operators set their own presence only; staff (and routing itself) anyone's."""
    if actor.kind == "operator":
        return actor.id == operator_id
    return actor.kind in ("staff", "system")


def known(state: Operator | None, operator_id: str) -> Operator:
    """The operator, or a refusal when the roster has no such operator."""
    if state is None:
        raise NotFound(f"no operator {operator_id}")
    return state
