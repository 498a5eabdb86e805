"""Where a call goes: voicemail outside office hours, else a free operator who speaks the language.

The caller's language (when the call carries it) is looked for first, then the client's. The
language queue looked in is named on CallRouted (`queue`). There is no "waiting" destination:
when the office is open but nobody who speaks the language is free, the call goes to voicemail
with `office_open` true, which says exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from libs.events.calls import CallReceived
from libs.events.envelope import SYSTEM
from libs.events.routing import CallRouted
from libs.events.values import Language, OfficeHours
from libs.office_hours import office_open
from services.routing.domain.roster import Operator, choose_operator, wanted_languages

Reason = Literal["operator", "after_hours", "no_operator"]
"""Why a call went where it went (a bounded metric label and what the read side shows)."""


@dataclass(frozen=True, kw_only=True)
class RouteCall:
    """Route a call that just came in, given what routing knows of its client and the roster."""

    call: CallReceived
    at: datetime
    client_language: Language
    office_hours: OfficeHours | None
    """None while routing has not yet learned the client: then the call's own verdict holds."""
    operators: tuple[Operator, ...]


def routed_at_all(call: CallReceived) -> bool:
    """Whether routing routes the call: a live one, not one staff imported from history."""
    return not call.imported


def route(command: RouteCall) -> list[CallRouted]:
    """The CallRouted for a call: voicemail when closed or nobody fits, else an operator."""
    call = command.call
    hours = command.office_hours
    is_open = office_open(hours, call.received_at) if hours is not None else call.office_open
    if not is_open:
        return [_routed(command, "voicemail", None, command.client_language, None)]
    languages = wanted_languages(command.client_language, call.caller_language)
    choice = choose_operator(command.operators, languages)
    if choice is None:
        return [_routed(command, "voicemail", None, command.client_language, languages[0])]
    operator, language = choice
    return [_routed(command, "operator", operator.operator_id, language, language)]


def reason(event: CallRouted) -> Reason:
    """Why the call went where it went."""
    if event.destination == "operator":
        return "operator"
    return "no_operator" if event.office_open else "after_hours"


def _routed(
    command: RouteCall,
    destination: Literal["operator", "voicemail"],
    operator_id: str | None,
    language: Language,
    queue: Language | None,
) -> CallRouted:
    call = command.call
    return CallRouted(
        call_id=call.call_id,
        client_id=call.client_id,
        occurred_at=command.at,
        correlation_id=call.correlation_id,
        causation_id=call.event_id,
        actor=SYSTEM,
        destination=destination,
        operator_id=operator_id,
        language=language,
        office_open=queue is not None,  # a queue is looked in exactly when the office is open
        queue=queue,
    )
