"""The operator roster: who speaks what, who is free, and the fair choice among them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from libs.events.values import Language

Presence = Literal["available", "busy", "offline"]
"""Whether an operator can take a call now."""


@dataclass(frozen=True)
class Operator:
    """One operator as routing sees them: languages, presence and since when."""

    operator_id: str
    name: str
    languages: frozenset[Language]
    presence: Presence
    presence_since: datetime

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
