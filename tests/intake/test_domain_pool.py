"""The pool of numbers: given out once at a time, resting in quarantine after a client."""

from __future__ import annotations

from datetime import timedelta

from libs.errors import Conflict, Rejected
from libs.events import Event
from libs.events.intake import OffboardingCancelled, OffboardingScheduled
from services.intake.domain.commands import (
    AddNumbersToPool,
    AssignNumber,
    CancelOffboarding,
    OffboardClient,
    ReleaseNumber,
)
from services.intake.domain.pool import offerable, pool_state
from services.intake.domain.state import fold
from tests.intake.history import (
    AT,
    CLIENT,
    NUMBER,
    OTHER,
    SECOND_NUMBER,
    added_to_pool,
    assigned,
    command,
    envelope,
    refused,
    registered,
    released,
    then,
    when,
)

DAYS_90 = timedelta(days=90)


def test_numbers_join_the_pool_once_each_in_the_order_given() -> None:
    add = command(AddNumbersToPool, numbers=("085 123 4568", NUMBER, "+31851234568"))
    assert when([added_to_pool(NUMBER)], add) == then(added_to_pool(SECOND_NUMBER))


def test_a_number_that_is_no_telephone_number_keeps_the_whole_list_out() -> None:
    refused([], command(AddNumbersToPool, numbers=(NUMBER, "+3185")), Rejected, "not a valid")


def test_a_free_pool_number_is_reserved_without_joining_the_pool_again() -> None:
    history: list[Event] = [added_to_pool(), registered()]
    assert when(history, command(AssignNumber, number=NUMBER)) == then(assigned())


def test_a_released_number_rests_for_the_quarantine_period() -> None:
    history: list[Event] = [added_to_pool(), registered(), assigned()]
    release = command(ReleaseNumber, number=NUMBER, quarantine=DAYS_90)
    assert when(history, release) == then(released(until=AT + DAYS_90))


def test_offboarding_sends_the_numbers_into_quarantine_for_the_period_given() -> None:
    history: list[Event] = [registered(), assigned()]
    offboard = command(OffboardClient, quarantine=timedelta(days=30))
    assert [e["quarantine_until"] for e in when(history, offboard)[1:]] == [AT + timedelta(30)]


def test_a_number_in_quarantine_is_refused_until_the_period_ends() -> None:
    history: list[Event] = [
        added_to_pool(), assigned(client=OTHER), released(until=AT + DAYS_90), registered()
    ]  # fmt: skip
    late = AT + DAYS_90 - timedelta(seconds=1)
    refused(history, command(AssignNumber, at=late, number=NUMBER), Conflict, "quarantine until")
    on_time = command(AssignNumber, at=AT + DAYS_90, number=NUMBER)
    assert [e["type"] for e in when(history, on_time)] == ["NumberAssigned"]


def test_a_reservation_without_a_number_that_the_handler_could_not_fill_is_a_conflict() -> None:
    refused([registered()], command(AssignNumber, number=None), Conflict, "no free number")


def test_the_state_tells_free_reserved_and_resting_apart() -> None:
    until = AT + DAYS_90
    assert pool_state(None, None, AT) == "free"
    assert pool_state(CLIENT, until, AT) == "reserved"
    assert pool_state(None, until, AT) == "quarantined"
    assert pool_state(None, until, until) == "free"
    assert not offerable(None, until, until - timedelta(microseconds=1))


def test_the_fold_keeps_the_quarantine_of_the_last_release() -> None:
    state = fold([added_to_pool(), assigned(), released(until=AT + DAYS_90)])
    assert (state.holders, state.quarantine_of(NUMBER)) == ({}, AT + DAYS_90)


def test_offboarding_at_a_later_moment_is_scheduled_and_changes_nothing_before() -> None:
    effective = AT + timedelta(hours=5)
    offboard = command(OffboardClient, reason="payroll", effective_at=effective)
    assert when([registered(), assigned()], offboard) == then(
        OffboardingScheduled(**envelope(), effective_at=effective, reason="payroll")
    )
    state = fold(
        [registered(), assigned(), OffboardingScheduled(**envelope(), effective_at=effective)]
    )
    assert state.client is not None
    assert (state.client.status, state.client.offboard_at, state.numbers_of(CLIENT)) == (
        "registered",
        effective,
        (NUMBER,),
    )


def test_offboarding_at_a_moment_past_leaves_at_once() -> None:
    offboard = command(OffboardClient, effective_at=AT - timedelta(hours=1))
    assert [e["type"] for e in when([registered(), assigned()], offboard)] == [
        "ClientOffboarded", "NumberReleased"
    ]  # fmt: skip


def test_a_cancelled_departure_stops_the_loop_from_recording_it() -> None:
    effective = AT + timedelta(hours=5)
    scheduled = OffboardingScheduled(**envelope(), effective_at=effective)
    cancel = command(CancelOffboarding, reason="stays")
    assert when([registered(), assigned(), scheduled], cancel) == then(
        OffboardingCancelled(**envelope(), was_effective_at=effective, reason="stays")
    )
    refused([registered(), assigned()], cancel, Conflict, "no departure scheduled")
    cancelled = OffboardingCancelled(**envelope(), was_effective_at=effective)
    loop = command(OffboardClient, at=effective + timedelta(seconds=5), scheduled=True)
    refused([registered(), assigned(), scheduled, cancelled], loop, Conflict, "cancelled")
    refused([registered(), assigned(), scheduled], command(OffboardClient, at=AT, scheduled=True),
            Conflict, "no longer leaves now")  # fmt: skip
    left = when([registered(), assigned(), scheduled], loop)
    assert [e["type"] for e in left] == ["ClientOffboarded", "NumberReleased"]
