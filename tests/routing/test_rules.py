"""Routing rules without I/O: the roster's events, the caller's language, the book to follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.errors import NotFound
from libs.events import Actor, CallReceived, EscalationContact, Event, OfficeHours, UrgencyRule
from libs.events.routing import (
    OperatorDetailsChanged,
    OperatorPresenceChanged,
    OperatorRegistered,
    Presence,
)
from services.routing.domain.chain import (
    LINK_ACKNOWLEDGER,
    Book,
    book_to_follow,
    chain_for,
    contact_name,
)
from services.routing.domain.operators import (
    PutOperator,
    ReleaseCall,
    RosterCommand,
    SetPresence,
    TakeCall,
    decide,
)
from services.routing.domain.roster import Operator, fold, operator_stream
from services.routing.domain.route import RouteCall, route

T0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Amsterdam
LATER = T0 + timedelta(minutes=5)
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
OTHER_CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8060")
CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
STAFF = Actor(kind="staff")


def registered(**kw: Any) -> list[Event]:
    """Anna joined the roster at T0."""
    fields: dict[str, Any] = {"name": "Anna", "languages": ("nl", "en"), **kw}
    return [*decide(PutOperator(operator_id="anna", at=T0, actor=STAFF, **fields), None)]


def when(given: list[Event], command: RosterCommand) -> list[Event]:
    """Decide a roster command on the operator folded from `given`."""
    return decide(command, fold(given))


def presence(to: Presence, at: datetime = LATER) -> SetPresence:
    """Anna says she is `to`."""
    return SetPresence(operator_id="anna", at=at, presence=to)


def after(given: list[Event], *commands: RosterCommand) -> tuple[list[Event], Operator]:
    """The history after each command in turn, and Anna as it leaves her."""
    history = list(given)
    for command in commands:
        history += when(history, command)
    state = fold(history)
    assert state is not None
    return history, state


def test_a_new_operator_is_registered_offline_with_sorted_languages() -> None:
    [event] = registered()
    assert isinstance(event, OperatorRegistered)
    assert (event.operator_id, event.languages, event.actor) == ("anna", ("en", "nl"), STAFF)
    state = fold([event])
    assert state is not None
    assert (state.presence, state.presence_since, state.version) == ("offline", T0, 1)
    assert operator_stream("anna") == "operator-anna"


def test_putting_an_operator_again_changes_only_what_differs() -> None:
    same = PutOperator(operator_id="anna", at=LATER, name="Anna", languages=("en", "nl"))
    assert when(registered(), same) == []
    renamed = PutOperator(operator_id="anna", at=LATER, name="Anna de Vries", languages=("fr",))
    [event] = when(registered(), renamed)
    assert isinstance(event, OperatorDetailsChanged)
    _, state = after(registered(), renamed)
    assert (state.name, state.languages, state.presence) == ("Anna de Vries", {"fr"}, "offline")


def test_logging_in_makes_the_operator_available_and_saying_it_again_keeps_her_place() -> None:
    history, state = after(registered(), presence("available"))
    [event] = history[1:]
    assert isinstance(event, OperatorPresenceChanged)
    assert (event.previous, event.presence, event.call_id) == ("offline", "available", None)
    assert (state.presence, state.presence_since) == ("available", LATER)
    assert when(history, presence("available", LATER + timedelta(hours=1))) == []


def test_busy_straight_from_offline_is_a_pause_without_a_call() -> None:
    history, state = after(registered(), presence("busy"))
    [event] = history[1:]
    assert isinstance(event, OperatorPresenceChanged)
    assert (event.previous, event.presence) == ("offline", "busy")
    assert (state.presence, state.current_call_id) == ("busy", None)


def test_a_call_makes_the_operator_busy_with_it_until_it_is_released() -> None:
    take = TakeCall(operator_id="anna", at=LATER, call_id=CALL)
    history, state = after(registered(), presence("available", T0), take)
    assert (state.presence, state.current_call_id, state.version) == ("busy", CALL, 3)
    assert when(history, take) == []
    assert when(history, presence("busy")) == [], "busy again keeps the call"
    assert when(history, ReleaseCall(operator_id="anna", at=LATER, call_id=OTHER_CALL)) == []
    freed_at = LATER + timedelta(minutes=3)
    release = ReleaseCall(operator_id="anna", at=freed_at, call_id=CALL)
    _, freed = after(history, release)
    assert (freed.presence, freed.current_call_id, freed.presence_since) == (
        "available",
        None,
        freed_at,
    )


def test_logging_off_during_a_call_ends_it_for_the_roster() -> None:
    take = TakeCall(operator_id="anna", at=LATER, call_id=CALL)
    _, state = after(registered(), take, presence("offline"))
    assert (state.presence, state.current_call_id) == ("offline", None)


def test_an_operator_not_on_the_roster_has_no_presence_and_takes_no_call() -> None:
    with pytest.raises(NotFound, match="no operator anna"):
        decide(presence("available"), None)
    assert decide(TakeCall(operator_id="anna", at=T0, call_id=CALL), None) == []
    assert decide(ReleaseCall(operator_id="anna", at=T0, call_id=CALL), None) == []


def test_a_presence_change_names_no_call_unless_busy() -> None:
    with pytest.raises(ValueError, match="only when presence is 'busy'"):
        OperatorPresenceChanged(
            operator_id="anna", occurred_at=T0, presence="available", previous="busy", call_id=CALL
        )


# The caller's language -----------------------------------------------------------------------


def call(caller_language: Any = None) -> CallReceived:
    """A call to a Dutch-speaking client at T0."""
    return CallReceived(
        call_id=CALL, client_id=CLIENT, occurred_at=T0, received_at=T0,
        dialled_number="+31851234567", caller_number="+31612345678", book_version=1,
        office_open=True, caller_language=caller_language,
    )  # fmt: skip


def op(op_id: str, *languages: Any) -> Operator:
    """An operator available since before T0."""
    return Operator(
        op_id, op_id.title(), frozenset(languages), "available", T0 - timedelta(hours=1)
    )


def routed(received: CallReceived, *operators: Operator, hours: OfficeHours | None = None) -> Any:
    """Where the call goes for a Dutch-speaking client."""
    command = RouteCall(
        call=received, at=T0, client_language="nl", office_hours=hours or OfficeHours(),
        operators=operators,
    )  # fmt: skip
    [event] = route(command)
    return event


def test_the_callers_language_on_the_call_wins_over_the_clients() -> None:
    event = routed(call("en"), op("dirk", "nl"), op("emma", "en"))
    assert (event.operator_id, event.language, event.queue) == ("emma", "en", "en")
    event = routed(call(), op("dirk", "nl"), op("emma", "en"))
    assert (event.operator_id, event.language, event.queue) == ("dirk", "nl", "nl")


def test_without_an_operator_for_the_callers_language_the_clients_queue_serves() -> None:
    event = routed(call("fr"), op("dirk", "nl"))
    assert (event.operator_id, event.language, event.queue) == ("dirk", "nl", "nl")


def test_voicemail_names_the_queue_looked_in_while_open_and_none_after_hours() -> None:
    nobody = routed(call("de"))
    assert (nobody.destination, nobody.language, nobody.queue) == ("voicemail", "nl", "de")
    assert nobody.office_open
    saturday = call("de").model_copy(update={"received_at": T0 + timedelta(days=4)})
    closed = routed(saturday, op("dirk", "de"))
    assert (closed.destination, closed.office_open, closed.queue) == ("voicemail", False, None)


# The book an escalation follows, and who acknowledged ----------------------------------------

LEAK = UrgencyRule(kind="leak", description="Water leak", channels=("sms", "email"))
CONTACTS = (
    EscalationContact(name="Jan", phone="+31611111111"),
    EscalationContact(name="Piet", phone="+31622222222", email="piet@bakker.nl"),
)
V1 = Book(book_version=1, urgency_rules=(LEAK,), escalation_contacts=CONTACTS)
V2 = Book(book_version=2, urgency_rules=(LEAK,), escalation_contacts=CONTACTS[:1])


def test_the_book_on_screen_is_waited_for_then_the_latest_known_is_followed() -> None:
    wait_until = T0 + timedelta(seconds=60)
    on_time = book_to_follow(2, V2, None, now=T0, wait_until=wait_until)
    assert (on_time.book, on_time.waiting, on_time.fell_back) == (V2, False, False)
    early = book_to_follow(2, None, V1, now=T0, wait_until=wait_until)
    assert (early.book, early.waiting) == (None, True)
    late = book_to_follow(2, None, V1, now=wait_until, wait_until=wait_until)
    assert (late.book, late.waiting, late.fell_back) == (V1, False, True)
    unnamed = book_to_follow(None, None, V1, now=T0, wait_until=wait_until)
    assert (unnamed.book, unnamed.waiting, unnamed.fell_back) == (V1, False, False)


def test_a_link_acknowledgement_names_the_contact_of_its_attempt() -> None:
    chain = chain_for(V1, "leak")  # Jan by sms, Piet by sms, Piet by e-mail
    assert [contact_name(chain, n) for n in (1, 2, 3)] == ["Jan", "Piet", "Piet"]
    assert contact_name(chain, 4) == contact_name(chain, None) == LINK_ACKNOWLEDGER
