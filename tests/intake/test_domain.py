"""Given these events, when this command, then these events (or this refusal). No I/O.

Registration, lifecycle and numbers; the book and plans are in test_domain_book_and_plans.py.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.errors import Conflict, DomainError, NotFound, Rejected
from libs.events import (
    ClientActivated,
    ClientOffboarded,
    EmailHandling,
    Event,
    FixedMonthlyPlan,
    NotificationPreferences,
    NumberReleased,
    OfficeHours,
    PerCallPlan,
    PunchCardPlan,
)
from services.intake.domain.commands import (
    ActivateClient,
    AssignNumber,
    ChangeNotification,
    ChangeOfficeHours,
    OffboardClient,
    RegisterClient,
    ReleaseNumber,
)
from services.intake.domain.decide import decide
from services.intake.domain.phone import normalise_number
from services.intake.domain.pool import DEFAULT_QUARANTINE
from services.intake.domain.state import State, fold
from tests.intake.history import (
    AT,
    CLIENT,
    NOTIFY,
    NUMBER,
    OTHER,
    SECOND_NUMBER,
    added_to_pool,
    assigned,
    command,
    envelope,
    refused,
    registered,
    revised,
    then,
    when,
)

# --- registration -------------------------------------------------------------------------


def test_register_records_the_intake_form() -> None:
    cmd = command(
        RegisterClient,
        name="Bakkerij De Wit",
        contact_email="gonny@example.nl",
        language="nl",
        plan=PerCallPlan(),
        notification=NOTIFY,
    )
    assert when([], cmd) == then(registered())


def test_register_keeps_email_handling_and_cold_call_agreement() -> None:
    handling = EmailHandling(enabled=True, monthly_fee_cents=2500)
    cmd = command(
        RegisterClient,
        name="Bakkerij De Wit",
        contact_email="gonny@example.nl",
        language="nl",
        plan=PerCallPlan(),
        notification=NOTIFY,
        email_handling=handling,
        cold_calls_free=True,
    )
    assert when([], cmd) == then(registered(email_handling=handling, cold_calls_free=True))


def test_a_client_registers_once() -> None:
    cmd = command(
        RegisterClient, name="X", contact_email="x@example.nl", language="en",
        plan=PerCallPlan(), notification=NOTIFY,
    )  # fmt: skip
    refused([registered()], cmd, Conflict, "already registered")


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"plan": FixedMonthlyPlan(monthly_amount_cents=10**12, included_calls=5)}, "at most"),
        ({"plan": FixedMonthlyPlan(monthly_amount_cents=100, included_calls=10**9)}, "at most"),
        ({"plan": PunchCardPlan(low_balance_threshold_cents=10**10)}, "at most"),
        ({"email_handling": EmailHandling(enabled=True, monthly_fee_cents=10**10)}, "at most"),
        ({"office_hours": OfficeHours(timezone="Europe/Atlantis")}, "unknown time zone"),
        ({"name": "Bakkerij\x00"}, "NUL"),
        ({"name": "Bakkerij \ud800"}, "unicode"),
    ],
)
def test_register_refuses_what_cannot_be_meant_or_stored(
    fields: dict[str, Any], match: str
) -> None:
    values: dict[str, Any] = {
        "name": "Bakkerij De Wit", "contact_email": "gonny@example.nl", "language": "nl",
        "plan": PerCallPlan(), "notification": NOTIFY, **fields,
    }  # fmt: skip
    refused([], command(RegisterClient, **values), Rejected, match)


# --- lifecycle ----------------------------------------------------------------------------


def test_activate_once_book_and_number_are_in_place() -> None:
    history: list[Event] = [registered(), assigned(), revised(1)]
    assert when(history, command(ActivateClient)) == then(ClientActivated(**envelope()))


@pytest.mark.parametrize(
    ("history", "error", "match"),
    [
        ([], NotFound, "no client"),
        ([registered(), assigned()], Conflict, "secretary book"),
        ([registered(), revised(1)], Conflict, "forwarding number"),
        ([registered(), assigned(), revised(1), ClientActivated(**envelope())], Conflict, "active"),
        ([registered(), ClientOffboarded(**envelope())], Conflict, "offboarded"),
    ],
)
def test_illegal_activations(history: list[Event], error: type[DomainError], match: str) -> None:
    refused(history, command(ActivateClient), error, match)


def test_offboarding_releases_every_number_the_client_holds() -> None:
    history: list[Event] = [registered(), assigned(SECOND_NUMBER), assigned(NUMBER)]
    assert when(history, command(OffboardClient, reason="moved to payroll staff")) == then(
        ClientOffboarded(**envelope(), reason="moved to payroll staff"),
        NumberReleased(**envelope(), number=NUMBER, quarantine_until=AT + DEFAULT_QUARANTINE),
        NumberReleased(
            **envelope(), number=SECOND_NUMBER, quarantine_until=AT + DEFAULT_QUARANTINE
        ),
    )


def test_offboarding_twice_is_a_conflict() -> None:
    refused(
        [registered(), ClientOffboarded(**envelope())],
        command(OffboardClient),
        Conflict,
        "offboarded",
    )


# --- numbers ------------------------------------------------------------------------------


def test_assign_a_free_number_in_national_notation() -> None:
    assert when([registered()], command(AssignNumber, number="085 123 4567")) == then(
        added_to_pool(), assigned()
    )


def test_a_number_held_by_another_client_is_taken() -> None:
    history: list[Event] = [assigned(client=OTHER), registered()]
    refused(history, command(AssignNumber, number=NUMBER), Conflict, "taken")


def test_a_client_cannot_take_its_own_number_twice() -> None:
    refused([registered(), assigned()], command(AssignNumber, number=NUMBER), Conflict, "holds")


def test_a_released_number_can_go_to_another_client() -> None:
    history: list[Event] = [
        assigned(client=OTHER),
        NumberReleased(**envelope(OTHER), number=NUMBER),
        registered(),
    ]
    assert when(history, command(AssignNumber, number=NUMBER)) == then(assigned())


@pytest.mark.parametrize(
    ("history", "number", "error", "match"),
    [
        ([registered()], "+3185", Rejected, "not a valid telephone number"),
        ([registered()], "hello", Rejected, "not a telephone number"),
        ([], NUMBER, NotFound, "no client"),
        ([registered(), ClientOffboarded(**envelope())], NUMBER, Conflict, "offboarded"),
    ],
)
def test_illegal_assignments(
    history: list[Event], number: str, error: type[DomainError], match: str
) -> None:
    refused(history, command(AssignNumber, number=number), error, match)


def test_release_a_held_number() -> None:
    assert when([registered(), assigned()], command(ReleaseNumber, number=NUMBER)) == then(
        NumberReleased(**envelope(), number=NUMBER, quarantine_until=AT + DEFAULT_QUARANTINE)
    )


def test_a_client_releases_only_numbers_it_holds() -> None:
    history: list[Event] = [registered(), assigned(client=OTHER)]
    refused(history, command(ReleaseNumber, number=NUMBER), NotFound, "does not hold")


def test_normalise_number_writes_e164() -> None:
    assert normalise_number("0031 85 123 4567") == NUMBER
    assert normalise_number("+49 30 1234567") == "+49301234567"


# --- preferences --------------------------------------------------------------------------


def test_preferences_and_office_hours_can_change() -> None:
    per_call = NotificationPreferences(mode="per_call", recipients=("a@example.nl",))
    assert len(when([registered()], command(ChangeNotification, notification=per_call))) == 1
    hours = OfficeHours(timezone="Europe/Berlin", public_holidays=None)
    assert len(when([registered()], command(ChangeOfficeHours, office_hours=hours))) == 1
    bad = OfficeHours(timezone="Mars/Olympus")
    refused([registered()], command(ChangeOfficeHours, office_hours=bad), Rejected, "time zone")


def test_events_of_other_clients_do_not_touch_the_state() -> None:
    state = fold([registered(), ClientOffboarded(**envelope(OTHER))])
    assert state.client is not None
    assert state.client.status == "registered"


# --- a property: one holder per number, whatever the order of requests --------------------

NUMBERS = (NUMBER, SECOND_NUMBER)
requests = st.lists(
    st.tuples(st.sampled_from((CLIENT, OTHER)), st.sampled_from(NUMBERS), st.booleans()),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(requests)
def test_a_number_never_has_two_holders(steps: list[tuple[UUID, str, bool]]) -> None:
    history: list[Event] = [registered(CLIENT), registered(OTHER)]
    holders: dict[str, UUID] = {}
    for client, number, assign in steps:
        kind = AssignNumber if assign else ReleaseNumber
        state = fold(history)
        try:
            events = decide(command(kind, client=client, number=number), _as(state, client))
        except (Conflict, NotFound):
            assert (holders.get(number) is not None) if assign else holders.get(number) != client
            continue
        history.extend(events)
        if assign:
            assert number not in holders
            holders[number] = client
        else:
            assert holders.pop(number) == client
    assert dict(fold(history).holders) == holders


def _as(state: State, client: UUID) -> State:
    """The state as the handler loads it for one client: that client and every number seen."""
    clients = {CLIENT: registered(CLIENT), OTHER: registered(OTHER)}
    return State(client=fold([clients[client]]).client, holders=state.holders)
