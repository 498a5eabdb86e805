"""Onboarding's steps: each in its order (a step too early names what is missing), each time
kept, and the lead time from the complete intake form to active."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from libs.errors import Conflict, Rejected
from libs.events import EmailHandling, Event, FixedMonthlyPlan
from libs.events.intake import (
    BillingDetailsChanged,
    ClientActivated,
    EnquiryRecorded,
    IntakeFormReceived,
    QuoteIssued,
    TelephonyConfigured,
    TermsAccepted,
)
from services.intake.domain.commands import (
    AcceptTerms,
    ActivateClient,
    AssignNumber,
    ConfirmTelephony,
    IssueQuote,
    ReceiveIntakeForm,
    RecordEnquiry,
)
from services.intake.domain.onboarding import (
    LEAD_TIME_TARGET,
    lead_time,
    lead_time_due,
    missing_before,
)
from services.intake.domain.state import fold
from tests.intake.history import (
    AT,
    NUMBER,
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

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
VALID_UNTIL = date(2026, 1, 31)
LATER = AT + timedelta(hours=3)


def enquiry() -> EnquiryRecorded:
    """The bakery got in touch."""
    return EnquiryRecorded(**envelope(), contact_name="Gonny de Wit", wishes="Lunch cover")


def quoted(**fields: Any) -> QuoteIssued:
    """A per-call quote valid until VALID_UNTIL."""
    values: dict[str, Any] = {
        "plan": registered().plan,
        "call_rate_cents": 200,
        "setup_fee_cents": 4500,
        "valid_until": VALID_UNTIL,
        **fields,
    }
    return QuoteIssued(**envelope(), **values)


def addressed() -> BillingDetailsChanged:
    """Whom the bakery's invoices go to."""
    return BillingDetailsChanged(**envelope(), legal_name="Bakkerij De Wit V.O.F.",
                                 address_lines=("Markt 1",), postcode="5211 AB",
                                 city="'s-Hertogenbosch")  # fmt: skip


def until_terms() -> list[Event]:
    """Registered, enquired, quoted, book written, form received, terms accepted."""
    return [registered(), enquiry(), quoted(), revised(1), addressed(),
            IntakeFormReceived(**envelope(),
            book_version=1), TermsAccepted(**envelope(), terms_version="2026-01",
            accepted_by="Gonny de Wit", accepted_at=AT)]  # fmt: skip


def test_an_enquiry_opens_onboarding_with_a_normalised_phone() -> None:
    cmd = command(RecordEnquiry, contact_name="Gonny de Wit", phone="06 1234 5678", wishes="x")
    assert when([registered()], cmd) == then(
        EnquiryRecorded(**envelope(), contact_name="Gonny de Wit", phone="+31612345678", wishes="x")
    )


def test_the_quote_takes_the_plan_in_force_and_halves_the_rate_with_email_handling() -> None:
    email = EmailHandling(enabled=True, monthly_fee_cents=2500)
    cmd = command(IssueQuote, valid_until=VALID_UNTIL, email_handling=email)
    assert when([registered(), enquiry()], cmd) == then(
        quoted(email_handling=email, call_rate_cents=100)
    )


def test_a_quote_valid_until_a_past_day_is_rejected() -> None:
    cmd = command(IssueQuote, valid_until=date(2026, 1, 4))
    refused([registered(), enquiry()], cmd, Rejected, "in the past")


def test_a_step_before_its_turn_names_every_missing_step() -> None:
    history: list[Event] = [registered(), enquiry()]
    cmd = command(AcceptTerms, terms_version="2026-01", accepted_by="Gonny")
    refused(history, cmd, Conflict, "missing quote, intake_form")
    refused([registered()], command(ReceiveIntakeForm), Conflict, "missing enquiry")


def test_the_intake_form_needs_the_book_the_billing_details_and_a_quote_still_valid() -> None:
    refused([registered(), enquiry(), quoted(), addressed()], command(ReceiveIntakeForm),
            Conflict, "book")  # fmt: skip
    refused([registered(), enquiry(), quoted(), revised(1)], command(ReceiveIntakeForm),
            Conflict, "missing billing details")  # fmt: skip
    late = command(ReceiveIntakeForm, at=AT + timedelta(days=40))
    refused([registered(), enquiry(), quoted(), revised(1), addressed()], late, Conflict,
            "valid until")  # fmt: skip
    ok = when([registered(), enquiry(), quoted(), revised(2), addressed()],
              command(ReceiveIntakeForm))  # fmt: skip
    assert [e["book_version"] for e in ok] == [2]


def test_in_onboarding_a_number_is_reserved_only_after_the_terms() -> None:
    history: list[Event] = [added_to_pool(), registered(), enquiry(), quoted()]
    refused(history, command(AssignNumber, number=NUMBER), Conflict, "missing intake_form, terms")
    reserved = when([added_to_pool(), *until_terms()], command(AssignNumber, number=NUMBER))
    assert [e["type"] for e in reserved] == ["NumberAssigned"]


def test_telephony_names_the_number_and_active_needs_it() -> None:
    history = [*until_terms(), assigned()]
    refused(history, command(ActivateClient), Conflict, "missing telephony")
    assert when(history, command(ConfirmTelephony, method="checklist")) == then(
        TelephonyConfigured(**envelope(), number=NUMBER, method="checklist")
    )


def test_a_step_is_recorded_once() -> None:
    refused(until_terms(), command(AcceptTerms, terms_version="x", accepted_by="y"), Conflict,
            "recorded already")  # fmt: skip


def test_the_lead_time_runs_from_the_complete_form_to_active() -> None:
    form = IntakeFormReceived(**envelope(at=AT), book_version=1)
    active = ClientActivated(**envelope(at=LATER))
    history = [registered(), enquiry(), quoted(), revised(1), form, active]
    client = fold(history).client
    assert client is not None
    assert client.onboarding is not None
    assert lead_time(client.onboarding) == timedelta(hours=3) < LEAD_TIME_TARGET
    assert missing_before(client.onboarding, "active") == ["terms", "number", "telephony"]


def test_a_client_registered_without_an_enquiry_is_activated_as_before() -> None:
    history: list[Event] = [registered(), revised(1), assigned()]
    assert when(history, command(ActivateClient)) == then(ClientActivated(**envelope()))


@pytest.mark.parametrize("plan", [FixedMonthlyPlan(monthly_amount_cents=5000, included_calls=30)])
def test_a_quote_may_name_another_plan(plan: FixedMonthlyPlan) -> None:
    cmd = command(IssueQuote, valid_until=VALID_UNTIL, plan=plan)
    assert [e["plan"] for e in when([registered(), enquiry()], cmd)] == [plan.model_dump()]


def test_the_lead_time_counts_working_hours_so_a_friday_form_may_be_done_on_monday() -> None:
    friday_16 = datetime(2026, 12, 11, 16, 0, tzinfo=AMSTERDAM)
    monday_1130 = datetime(2026, 12, 14, 11, 30, tzinfo=AMSTERDAM)
    assert lead_time_due(friday_16) == monday_1130
    form = IntakeFormReceived(**envelope(at=friday_16), book_version=1)
    active = ClientActivated(**envelope(at=monday_1130))
    client = fold([registered(), enquiry(), quoted(), revised(1), form, active]).client
    assert client is not None
    assert client.onboarding is not None
    assert lead_time(client.onboarding) == LEAD_TIME_TARGET  # 1 h on Friday, 3.5 h on Monday
    christmas = datetime(2026, 12, 24, 16, 0, tzinfo=AMSTERDAM)  # then two public holidays
    assert lead_time_due(christmas) == datetime(2026, 12, 28, 11, 30, tzinfo=AMSTERDAM)
