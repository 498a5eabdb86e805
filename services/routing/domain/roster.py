"""The operator roster: who speaks what, who is free, and the fair choice among them.

Each operator is a stream of their own (OperatorRegistered, then details and presence
changes), folded into an `Operator`; the roster table is written from that state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from libs.events.envelope import Event
from libs.events.routing import (
    OperatorDetailsChanged,
    OperatorPresenceChanged,
    OperatorRegistered,
    Presence,
)
from libs.events.values import Language


@dataclass(frozen=True)
class Operator:
    """One operator as routing sees them: languages, presence and since when, their call."""

    operator_id: str
    name: str
    languages: frozenset[Language]
    presence: Presence
    presence_since: datetime
    current_call_id: UUID | None = None
    version: int = 0
    """The version of the operator's stream (0: read from the roster table, not folded)."""

    def speaks(self, language: Language) -> bool:
        """True when the operator can take a call in the language."""
        return language in self.languages


def wanted_languages(client: Language, caller: Language | None) -> tuple[Language, ...]:
    """The languages to look for, best first: the caller's when known, then the client's."""
    if caller is None or caller == client:
        return (client,)
    return (caller, client)


def choose_operator(
    operators: Iterable[Operator], languages: Sequence[Language]
) -> tuple[Operator, Language] | None:
    """The available operator idle longest who speaks the first language anyone speaks."""
    free = sorted(
        (op for op in operators if op.presence == "available"),
        key=lambda op: (op.presence_since, op.operator_id),
    )
    for language in languages:
        for operator in free:
            if operator.speaks(language):
                return operator, language
    return None


def operator_stream(operator_id: str) -> str:
    """The event stream of one operator in routing's store."""
    return f"operator-{operator_id}"


def evolve(state: Operator | None, event: Event) -> Operator:
    """The operator after one more event of their stream."""
    match event:
        case OperatorRegistered() if state is None:
            return Operator(
                event.operator_id, event.name, frozenset(event.languages), "offline",
                event.occurred_at, version=1,
            )  # fmt: skip
        case OperatorDetailsChanged() if state is not None:
            changed = replace(state, name=event.name, languages=frozenset(event.languages))
        case OperatorPresenceChanged() if state is not None:
            changed = replace(
                state,
                presence=event.presence,
                presence_since=event.occurred_at,
                current_call_id=event.call_id,
            )
        case _:
            raise ValueError(f"{event.type} does not continue this operator's stream")
    return replace(changed, version=changed.version + 1)


def fold(events: Iterable[Event], state: Operator | None = None) -> Operator | None:
    """The operator after all their events (None when there are none)."""
    for event in events:
        state = evolve(state, event)
    return state
