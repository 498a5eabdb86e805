"""The secretary book's versions and the plan history: given events, when command, then events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from libs.errors import Conflict, Rejected
from libs.events import (
    ClientOffboarded,
    EmailHandling,
    EscalationContact,
    Event,
    FixedMonthlyPlan,
    PlanChanged,
    PunchCardPlan,
    SecretaryBookRevised,
    TemporaryInstruction,
    UrgencyRule,
)
from services.intake.domain.commands import BookContent, ChangePlan, ReviseBook
from services.intake.domain.rules import book_version_as_of, instructions_in_force, plan_in_force
from services.intake.domain.state import BookRevision, PlanPeriod, fold
from tests.intake.history import (
    AT,
    command,
    envelope,
    refused,
    registered,
    revised,
    then,
    when,
)

# --- the secretary book -------------------------------------------------------------------

CONTACT = EscalationContact(name="Monteur Jan", phone="+31612345678")
LEAK = UrgencyRule(kind="water-leak", description="Water leaking", channels=("transfer", "sms"))


def test_every_revision_is_a_new_version() -> None:
    content = BookContent(
        greeting="Goedemorgen, Bakkerij De Wit",
        urgency_rules=(LEAK,),
        escalation_contacts=(CONTACT,),
    )
    later = AT + timedelta(days=1)
    history: list[Event] = [registered(), revised(1)]
    assert when(history, command(ReviseBook, at=later, content=content)) == then(
        SecretaryBookRevised(
            **envelope(at=later),
            book_version=2,
            greeting="Goedemorgen, Bakkerij De Wit",
            urgency_rules=(LEAK,),
            escalation_contacts=(CONTACT,),
        )
    )


def test_first_revision_is_version_one() -> None:
    cmd = command(ReviseBook, content=BookContent(greeting="Goedemorgen, versie 1"))
    assert when([registered()], cmd) == then(revised(1))


def test_an_edit_based_on_an_old_version_is_a_conflict() -> None:
    cmd = command(ReviseBook, content=BookContent(greeting="Hallo"), expected_version=1)
    refused([registered(), revised(1), revised(2)], cmd, Conflict, "at version 2, not 1")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (BookContent(greeting="Hallo", urgency_rules=(LEAK,)), "uses transfer"),
        (
            BookContent(
                greeting="Hallo",
                urgency_rules=(LEAK, LEAK),
                escalation_contacts=(CONTACT,),
            ),
            "unique",
        ),
        (
            BookContent(
                greeting="Hallo",
                escalation_contacts=(EscalationContact(name="Nobody", phone="+15555550123"),),
            ),
            "Nobody",
        ),
    ],
)
def test_a_book_that_cannot_be_followed_is_invalid(content: BookContent, match: str) -> None:
    refused([registered()], command(ReviseBook, content=content), Rejected, match)


def test_the_book_of_an_offboarded_client_is_closed() -> None:
    cmd = command(ReviseBook, content=BookContent(greeting="Hallo"))
    refused([registered(), ClientOffboarded(**envelope())], cmd, Conflict, "offboarded")


def test_as_of_selects_the_version_written_last_at_or_before_the_instant() -> None:
    books = [
        BookRevision(1, AT),
        BookRevision(2, AT + timedelta(hours=2)),
        BookRevision(3, AT + timedelta(hours=2)),
    ]
    assert book_version_as_of(books, AT - timedelta(seconds=1)) is None
    assert book_version_as_of(books, AT) == 1
    assert book_version_as_of(books, AT + timedelta(hours=1)) == 1
    assert book_version_as_of(books, AT + timedelta(hours=2)) == 3
    assert book_version_as_of(books, AT + timedelta(days=365)) == 3


def test_fold_tracks_book_versions() -> None:
    state = fold([registered(), revised(1), revised(2, AT + timedelta(hours=1))])
    assert state.client is not None
    assert state.client.book_version == 2
    assert book_version_as_of(state.client.books, AT + timedelta(minutes=30)) == 1


def test_temporary_instructions_apply_from_inclusive_until_exclusive() -> None:
    holiday = TemporaryInstruction(
        text="On holiday: refer to Piet", valid_from=AT, valid_until=AT + timedelta(days=7)
    )
    assert instructions_in_force([holiday], AT) == (holiday,)
    assert instructions_in_force([holiday], AT - timedelta(seconds=1)) == ()
    assert instructions_in_force([holiday], AT + timedelta(days=7)) == ()


# --- plans --------------------------------------------------------------------------------


def test_a_plan_change_keeps_email_handling_unless_given() -> None:
    handling = EmailHandling(enabled=True, monthly_fee_cents=2500)
    cmd = command(ChangePlan, plan=PunchCardPlan(), effective_from=date(2026, 2, 1))
    assert when([registered(email_handling=handling)], cmd) == then(
        PlanChanged(
            **envelope(),
            plan=PunchCardPlan(),
            email_handling=handling,
            effective_from=date(2026, 2, 1),
        )
    )


def test_a_plan_change_cannot_start_in_the_past() -> None:
    cmd = command(ChangePlan, plan=PunchCardPlan(), effective_from=date(2026, 1, 4))
    refused([registered()], cmd, Rejected, "in the past")


def test_a_plan_change_may_start_today_in_amsterdam() -> None:
    late_evening = datetime(2026, 1, 4, 23, 30, tzinfo=UTC)  # already Jan 5 in Amsterdam
    cmd = command(
        ChangePlan, at=late_evening, plan=PunchCardPlan(), effective_from=date(2026, 1, 5)
    )
    assert len(when([registered()], cmd)) == 1


def test_plan_history_and_the_plan_in_force() -> None:
    fixed = FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=30)
    history: list[Event] = [
        registered(),
        PlanChanged(**envelope(), plan=PunchCardPlan(), email_handling=EmailHandling(),
                    effective_from=date(2026, 2, 1)),
        PlanChanged(**envelope(), plan=fixed, email_handling=EmailHandling(),
                    effective_from=date(2026, 2, 1)),
    ]  # fmt: skip
    client = fold(history).client
    assert client is not None
    expected = [date(2026, 1, 5), date(2026, 2, 1), date(2026, 2, 1)]
    assert [p.effective_from for p in client.plans] == expected
    assert plan_in_force(client.plans, date(2026, 1, 4)) is None
    assert _mode(plan_in_force(client.plans, date(2026, 1, 31))) == "per_call"
    assert _mode(plan_in_force(client.plans, date(2026, 2, 1))) == "fixed_monthly"


def _mode(period: PlanPeriod | None) -> str:
    assert period is not None
    return period.plan.mode


def test_plan_changes_of_an_offboarded_client_are_refused() -> None:
    cmd = command(ChangePlan, plan=PunchCardPlan(), effective_from=date(2026, 2, 1))
    refused([registered(), ClientOffboarded(**envelope())], cmd, Conflict, "offboarded")
