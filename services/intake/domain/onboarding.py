"""Onboarding as a process: the steps from enquiry to active, in their order, with their times.

enquiry -> quote -> intake form -> terms accepted -> number reserved -> telephony configured
-> active. A client registered without an enquiry (the bureau's older, direct way) has no
process and is activated as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from libs.errors import Conflict
from libs.events.values import OfficeHours
from libs.office_hours import add_office_time, office_time_between

Step = Literal["enquiry", "quote", "intake_form", "terms", "number", "telephony", "active"]
STEPS: tuple[Step, ...] = ("enquiry", "quote", "intake_form", "terms", "number", "telephony",
                           "active")  # fmt: skip
LEAD_TIME_TARGET = timedelta(hours=4, minutes=30)
"""The bureau's promise: ready within half a working day (08:00-17:00) of a complete form."""
BUREAU_HOURS = OfficeHours()
"""The bureau's working hours for onboarding: Monday to Friday 08:00-17:00 in Amsterdam, not
on Dutch public holidays. A form received on Friday at 16:00 is due on Monday at 11:30."""
CALL_RATE_CENTS = 200
CALL_RATE_WITH_EMAIL_CENTS = 100


@dataclass(frozen=True)
class Onboarding:
    """When each step was done (None: not yet), and what the quote and terms said."""

    done: dict[Step, datetime]
    quote_valid_until: date | None = None
    terms_version: str | None = None

    def at(self, step: Step) -> datetime | None:
        """When the step was done, if it was."""
        return self.done.get(step)

    def with_step(self, step: Step, at: datetime) -> Onboarding:
        """The process with the step done at `at` (a step done once keeps its first time)."""
        return replace(self, done={step: at, **self.done})


def started(at: datetime) -> Onboarding:
    """The process as an enquiry opens it."""
    return Onboarding(done={"enquiry": at})


def missing_before(onboarding: Onboarding, step: Step) -> list[Step]:
    """The steps before `step` that are not done yet, in order."""
    return [s for s in STEPS[: STEPS.index(step)] if s not in onboarding.done]


def require_ready_for(onboarding: Onboarding, step: Step) -> None:
    """Conflict naming what is missing, unless every step before `step` is done."""
    missing = missing_before(onboarding, step)
    if missing:
        raise Conflict(f"{step} comes after {', '.join(missing)}: missing {', '.join(missing)}")


def lead_time(onboarding: Onboarding) -> timedelta | None:
    """Working time (BUREAU_HOURS) from the complete intake form to active, once both
    happened: what the bureau's promise of half a working day is measured in."""
    form, active = onboarding.at("intake_form"), onboarding.at("active")
    if form is None or active is None:
        return None
    return office_time_between(BUREAU_HOURS, form, active)


def lead_time_due(form_received_at: datetime) -> datetime:
    """When a form received then passes the target: LEAD_TIME_TARGET of working time later."""
    due = add_office_time(BUREAU_HOURS, form_received_at, LEAD_TIME_TARGET)
    assert due is not None  # the bureau's weekdays always come round again
    return due


def call_rate_cents(email_handling_enabled: bool) -> int:
    """The rate per billable call the quote names: EUR 2.00, EUR 1.00 with e-mail handling."""
    return CALL_RATE_WITH_EMAIL_CENTS if email_handling_enabled else CALL_RATE_CENTS
