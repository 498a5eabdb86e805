"""The onboarding decisions: each step in its turn (a step too early names what is missing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from libs.errors import Conflict, Rejected
from libs.events import EmailHandling, Event
from libs.events.intake import (
    EnquiryRecorded,
    IntakeFormReceived,
    QuoteIssued,
    TelephonyConfigured,
    TermsAccepted,
)
from services.intake.domain.basics import changeable, check_terms, event_of, existing
from services.intake.domain.commands import (
    AcceptTerms,
    Command,
    ConfirmTelephony,
    IssueQuote,
    ReceiveIntakeForm,
    RecordEnquiry,
)
from services.intake.domain.onboarding import Onboarding, Step, call_rate_cents, require_ready_for
from services.intake.domain.phone import normalise_number
from services.intake.domain.rules import plan_in_force
from services.intake.domain.state import State, local_date


def _in_onboarding(command: Command, state: State, step: Step) -> Onboarding:
    """The client's onboarding, ready for `step`; Conflict naming what is missing."""
    client = changeable(command, state)
    if client.status == "active":
        raise Conflict(f"client {client.client_id} is active already; onboarding is over")
    if client.onboarding is None:
        raise Conflict(f"{step} comes after enquiry: missing enquiry")
    require_ready_for(client.onboarding, step)
    if step != "quote" and client.onboarding.at(step) is not None:
        raise Conflict(f"{step} was recorded already")
    return client.onboarding


def _enquiry(command: RecordEnquiry, state: State) -> list[Event]:
    client = changeable(command, state)
    if client.status == "active" or client.onboarding is not None:
        raise Conflict("the enquiry was recorded already (or the client is active)")
    phone = None if command.phone is None else normalise_number(command.phone)
    return [
        event_of(
            EnquiryRecorded,
            command,
            contact_name=command.contact_name,
            phone=phone,
            wishes=command.wishes,
        )
    ]


def _quote(command: IssueQuote, state: State) -> list[Event]:
    process = _in_onboarding(command, state, "quote")
    if process.at("intake_form") is not None:
        raise Conflict("the intake form was received on this quote; it can no longer change")
    if command.valid_until < local_date(command.at):
        raise Rejected(f"valid_until {command.valid_until} is in the past")
    client = existing(command, state)
    current = plan_in_force(client.plans, local_date(command.at))
    plan = command.plan or (current.plan if current else None)
    email = command.email_handling or (current.email_handling if current else EmailHandling())
    if plan is None:
        raise Rejected("plan: the client has no plan in force; name one")
    check_terms(plan, email)
    return [
        event_of(
            QuoteIssued,
            command,
            plan=plan,
            email_handling=email,
            call_rate_cents=call_rate_cents(email.enabled),
            setup_fee_cents=4500,
            valid_until=command.valid_until,
        )
    ]


def _intake_form(command: ReceiveIntakeForm, state: State) -> list[Event]:
    process = _in_onboarding(command, state, "intake_form")
    client = existing(command, state)
    until = process.quote_valid_until
    if until is not None and local_date(command.at) > until:
        raise Conflict(f"the quote was valid until {until}; issue a new quote first")
    if not client.books:
        raise Conflict("intake_form needs the secretary book's first version: missing book")
    if not client.billing_details:
        raise Conflict("intake_form needs whom the invoices go to: missing billing details "
                       "(PUT /clients/{id}/billing-details)")  # fmt: skip
    return [event_of(IntakeFormReceived, command, book_version=client.book_version)]


def _terms(command: AcceptTerms, state: State) -> list[Event]:
    _in_onboarding(command, state, "terms")
    return [
        event_of(
            TermsAccepted,
            command,
            terms_version=command.terms_version,
            accepted_by=command.accepted_by,
            accepted_at=command.at,
        )
    ]


def _telephony(command: ConfirmTelephony, state: State) -> list[Event]:
    _in_onboarding(command, state, "telephony")
    numbers = state.numbers_of(command.client_id)
    if not numbers:
        raise Conflict("telephony needs the number the client holds: missing number")
    number = numbers[0]
    return [
        event_of(
            TelephonyConfigured,
            command,
            number=number,
            method=command.method,
            voice_url=command.voice_url,
        )
    ]


ONBOARDING_DECIDERS: dict[type[Command], Callable[[Any, State], list[Event]]] = {
    RecordEnquiry: _enquiry,
    IssueQuote: _quote,
    ReceiveIntakeForm: _intake_form,
    AcceptTerms: _terms,
    ConfirmTelephony: _telephony,
}
"""The decision of each onboarding command."""
