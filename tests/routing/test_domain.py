"""The routing domain: given these events, when this command, then these events (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest

from libs.errors import Conflict, Forbidden, NotFound, Rejected
from libs.events import (
    Actor,
    CallReceived,
    CallRouted,
    Closure,
    EscalationAcknowledged,
    EscalationContact,
    EscalationDispatched,
    EscalationExhausted,
    EscalationRequested,
    Event,
    OfficeHours,
    OpeningSpan,
    UrgencyRule,
    WeeklySchedule,
)
from libs.events.envelope import SYSTEM
from libs.events.routing import OperatorPresenceChanged
from libs.events.values import Language
from services.routing.domain.chain import Book, Chain, chain_for
from services.routing.domain.escalation import (
    Acknowledge,
    Command,
    FireTimer,
    StartChain,
    decide,
    fold,
)
from services.routing.domain.operators import SetPresence
from services.routing.domain.operators import decide as roster_decide
from services.routing.domain.roster import Operator
from services.routing.domain.route import RouteCall, reason, route, routed_at_all

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
CALL = UUID("01890a5d-ac96-774b-bcce-b302099a8058")
ESCALATION = UUID("01890a5d-ac96-774b-bcce-b302099a8059")
WEEKDAY_17_30 = datetime(2026, 1, 5, 16, 30, tzinfo=UTC)  # Monday 17:30 in Amsterdam
SATURDAY_10 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
KINGS_DAY_10 = datetime(2026, 4, 27, 8, 0, tzinfo=UTC)  # a Monday, a Dutch public holiday
TUESDAY_10 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
EARLY = datetime(2026, 1, 6, 7, 0, tzinfo=UTC)


def operator(op_id: str, *languages: Language, idle_since: datetime = EARLY, **kw: Any) -> Operator:
    """An operator, available since `idle_since` unless told otherwise."""
    fields: dict[str, Any] = {"presence": "available", "presence_since": idle_since, **kw}
    return Operator(op_id, op_id.title(), frozenset(languages), **fields)


ANNA = operator("anna", "nl", "en", idle_since=EARLY + timedelta(minutes=30))
BERND = operator("bernd", "de", "nl", idle_since=EARLY)
CLAIRE = operator("claire", "fr", "en", idle_since=EARLY)
ROSTER = (ANNA, BERND, CLAIRE)


def received(at: datetime, **overrides: Any) -> CallReceived:
    """A call to the client, received at `at`."""
    fields: dict[str, Any] = {
        "call_id": CALL, "client_id": CLIENT, "occurred_at": at, "received_at": at,
        "dialled_number": "+31851234567", "caller_number": "+31612345678", "book_version": 1,
        "office_open": True,
    }  # fmt: skip
    return CallReceived(**{**fields, **overrides})


def routed(at: datetime, language: Language = "nl", **kw: Any) -> CallRouted:
    """Route a call received at `at` for a Dutch-speaking client."""
    command = RouteCall(
        call=received(at, caller_language=kw.pop("caller_language", None)),
        at=at,
        client_language=language,
        office_hours=kw.pop("office_hours", OfficeHours()),
        operators=kw.pop("operators", ROSTER),
        **kw,
    )
    [event] = route(command)
    return event


@pytest.mark.parametrize("at", [WEEKDAY_17_30, SATURDAY_10, KINGS_DAY_10])
def test_outside_office_hours_the_call_goes_to_voicemail(at: datetime) -> None:
    event = routed(at)
    assert (event.destination, event.operator_id, event.office_open) == ("voicemail", None, False)
    assert (event.language, reason(event)) == ("nl", "after_hours")


def test_at_ten_on_a_working_day_the_operator_idle_longest_who_speaks_the_language() -> None:
    event = routed(TUESDAY_10)
    assert (event.destination, event.operator_id, event.language) == ("operator", "bernd", "nl")
    assert event.office_open
    assert reason(event) == "operator"
    assert routed(TUESDAY_10, "fr").operator_id == "claire"
    anna_longer = (operator("anna", "nl", idle_since=EARLY - timedelta(hours=1)), BERND)
    assert routed(TUESDAY_10, operators=anna_longer).operator_id == "anna"


def test_the_callers_language_comes_first_when_known_then_the_clients() -> None:
    assert routed(TUESDAY_10, "nl", caller_language="en").operator_id == "claire"
    assert routed(TUESDAY_10, "nl", caller_language="de").operator_id == "bernd"
    only_dutch = (ANNA,)
    event = routed(TUESDAY_10, "nl", caller_language="fr", operators=only_dutch)
    assert (event.operator_id, event.language) == ("anna", "nl")


def test_nobody_free_who_speaks_the_language_sends_the_call_to_voicemail_while_open() -> None:
    busy_or_away = (
        operator("anna", "nl", presence="busy"),
        operator("dirk", "nl", presence="offline"),
        CLAIRE,
    )
    event = routed(TUESDAY_10, operators=busy_or_away)
    assert (event.destination, event.operator_id, event.office_open) == ("voicemail", None, True)
    assert reason(event) == "no_operator"
    assert routed(TUESDAY_10, operators=()).destination == "voicemail"


def test_per_client_hours_and_temporary_closures_decide_too() -> None:
    saturdays = OfficeHours(
        weekly=WeeklySchedule(sat=(OpeningSpan(opens=time(9), closes=time(12)),))
    )
    assert routed(SATURDAY_10, office_hours=saturdays).destination == "operator"
    outing = Closure(starts_at=EARLY, ends_at=EARLY + timedelta(hours=8), reason="outing")
    closed = OfficeHours(closures=(outing,))
    assert routed(TUESDAY_10, office_hours=closed).office_open is False


def test_the_route_is_caused_by_the_call_and_shares_its_correlation() -> None:
    call = received(TUESDAY_10)
    command = RouteCall(
        call=call, at=TUESDAY_10, client_language="nl", office_hours=None, operators=()
    )
    [event] = route(command)
    assert (event.call_id, event.client_id) == (CALL, CLIENT)
    assert (event.causation_id, event.correlation_id) == (call.event_id, call.correlation_id)


def test_a_client_routing_has_not_heard_of_yet_keeps_the_calls_own_verdict() -> None:
    closed_call = RouteCall(
        call=received(TUESDAY_10, office_open=False), at=TUESDAY_10, client_language="nl",
        office_hours=None, operators=ROSTER,
    )  # fmt: skip
    assert route(closed_call)[0].destination == "voicemail"


# Escalation chains -------------------------------------------------------------------------

T0 = datetime(2026, 1, 6, 9, 5, tzinfo=UTC)
TIMEOUT = timedelta(seconds=600)
CONTACTS = (
    EscalationContact(name="Jan", phone="+31611111111"),
    EscalationContact(name="Piet", phone="+31622222222", email="piet@bakker.nl"),
    EscalationContact(name="Kees", phone="+31633333333"),
)
LEAK = UrgencyRule(kind="leak", description="Water leak", channels=("sms",))
BOOK = Book(book_version=2, urgency_rules=(LEAK,), escalation_contacts=CONTACTS)
CHAIN = chain_for(BOOK, "leak")
REQUEST = EscalationRequested(
    call_id=CALL, client_id=CLIENT, occurred_at=T0, escalation_id=ESCALATION,
    urgency_kind="leak", reason="water everywhere", book_version=2,
)  # fmt: skip


def when(given: list[Event], command: Command) -> list[Event]:
    """Decide a command on the escalation folded from `given`."""
    return decide(command, fold(given))


def run_chain(until: int) -> list[Event]:
    """The request, the first dispatch, and `until - 1` timeouts, as the worker would fire them."""
    history: list[Event] = [REQUEST, *when([REQUEST], StartChain(at=T0, chain=CHAIN))]
    for step in range(1, until):
        history += when(history, FireTimer(at=T0 + step * TIMEOUT, chain=CHAIN))
    return history


def test_the_chain_of_three_contacts_dispatches_each_in_turn_then_is_exhausted() -> None:
    history = run_chain(until=4)
    dispatched = [e for e in history if isinstance(e, EscalationDispatched)]
    assert [(d.attempt, d.contact_index, d.channel, d.target) for d in dispatched] == [
        (1, 0, "sms", "+31611111111"),
        (2, 1, "sms", "+31622222222"),
        (3, 2, "sms", "+31633333333"),
    ]
    assert [d.ack_due_at for d in dispatched] == [T0 + n * TIMEOUT for n in (1, 2, 3)]
    assert [d.occurred_at for d in dispatched] == [T0 + n * TIMEOUT for n in (0, 1, 2)]
    [exhausted] = history[4:]
    assert isinstance(exhausted, EscalationExhausted)
    assert exhausted.attempts == 3
    assert {e.correlation_id for e in history[1:]} == {REQUEST.correlation_id}
    assert {e.causation_id for e in history[1:]} == {REQUEST.event_id}
    state = fold(history)
    assert state is not None
    assert (state.status, state.due_at, state.version) == (
        "exhausted",
        None,
        4,
    )


def test_a_timer_before_its_due_time_or_after_the_end_does_nothing() -> None:
    one = run_chain(until=1)
    early = FireTimer(at=T0 + TIMEOUT - timedelta(seconds=1), chain=CHAIN)
    assert when(one, early) == []
    assert when(run_chain(until=4), FireTimer(at=T0 + 9 * TIMEOUT, chain=CHAIN)) == []
    assert when(one, StartChain(at=T0, chain=CHAIN)) == []


def ack(**kw: Any) -> Acknowledge:
    """Piet acknowledges through the API."""
    fields: dict[str, Any] = {"at": T0 + TIMEOUT + timedelta(seconds=30), "by": "Piet"}
    return Acknowledge(actor=Actor(kind="staff"), **{**fields, **kw})


def test_an_acknowledgement_stops_the_chain() -> None:
    history = run_chain(until=2)
    [acked] = when(history, ack(contact_index=1))
    assert isinstance(acked, EscalationAcknowledged)
    assert (acked.by, acked.contact_index, acked.escalation_id) == ("Piet", 1, ESCALATION)
    history.append(acked)
    assert when(history, FireTimer(at=T0 + 5 * TIMEOUT, chain=CHAIN)) == []
    state = fold(history)
    assert state is not None
    assert (state.status, state.acknowledged_by) == ("acknowledged", "Piet")


def test_an_acknowledgement_by_link_names_the_contact_of_its_attempt() -> None:
    [acked] = when(run_chain(until=3), ack(attempt=2))
    assert isinstance(acked, EscalationAcknowledged)
    assert acked.contact_index == 1
    with pytest.raises(Rejected, match="attempt 3"):
        when(run_chain(until=2), ack(attempt=3))
    with pytest.raises(Rejected, match="contact 2"):
        when(run_chain(until=2), ack(contact_index=2))


def test_acknowledging_twice_after_exhaustion_or_an_unknown_escalation_is_refused() -> None:
    acked = [*run_chain(until=1), *when(run_chain(until=1), ack())]
    with pytest.raises(Conflict, match="already acknowledged by Piet"):
        when(acked, ack(by="Kees"))
    with pytest.raises(Conflict, match="exhausted"):
        when(run_chain(until=4), ack())
    with pytest.raises(NotFound):
        when([], ack())


def test_the_chain_tries_each_contact_over_the_rules_channels_in_order_where_reachable() -> None:
    rule = UrgencyRule(
        kind="fire", description="Fire", channels=("transfer", "email"), ack_timeout_seconds=120
    )
    chain = chain_for(Book(3, (rule,), CONTACTS), "fire")
    assert [(s.contact_index, s.channel, s.target) for s in chain.steps] == [
        (0, "transfer", "+31611111111"),
        (1, "transfer", "+31622222222"),
        (1, "email", "piet@bakker.nl"),
        (2, "transfer", "+31633333333"),
    ]
    assert (chain.ack_timeout, chain.book_version) == (timedelta(seconds=120), 3)


def test_without_a_matching_rule_or_contacts_the_escalation_is_exhausted_at_once() -> None:
    for chain in (chain_for(BOOK, "fire"), chain_for(None, "leak"), Chain(())):
        [event] = when([REQUEST], StartChain(at=T0, chain=chain))
        assert isinstance(event, EscalationExhausted)
        assert event.attempts == 0


def test_a_call_staff_imported_from_history_is_not_routed() -> None:
    assert routed_at_all(received(TUESDAY_10))
    assert not routed_at_all(received(TUESDAY_10, imported=True))


def presence_by(actor: Actor, operator_id: str = "anna") -> list[Event]:
    """Anna (offline) logs in, as `actor` asks."""
    anna = operator("anna", "nl", presence="offline")
    command = SetPresence(operator_id=operator_id, at=TUESDAY_10, presence="available", actor=actor)
    return roster_decide(command, anna if operator_id == "anna" else None)


def test_an_operator_sets_only_their_own_presence_staff_and_routing_anyones() -> None:
    for actor in (Actor(kind="operator", id="anna"), Actor(kind="staff", id="eva"), SYSTEM):
        [changed] = presence_by(actor)
        assert isinstance(changed, OperatorPresenceChanged)
        assert (changed.presence, changed.actor) == ("available", actor)
    for actor in (Actor(kind="operator", id="bernd"), Actor(kind="operator"), Actor(kind="client")):
        with pytest.raises(Forbidden):
            presence_by(actor)
    with pytest.raises(Forbidden):  # refused before the roster is looked at: nothing leaks
        presence_by(Actor(kind="operator", id="anna"), operator_id="nobody")
    with pytest.raises(NotFound):
        presence_by(Actor(kind="staff", id="eva"), operator_id="nobody")
