"""The intake rules: given the state, what a command changes (as events) or why it cannot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from libs.errors import Conflict, NotFound, Rejected
from libs.events import (
    ApiKeyIssued,
    ApiKeyRevoked,
    ClientActivated,
    ClientOffboarded,
    ClientRegistered,
    EmailHandling,
    Event,
    NotificationPreferencesChanged,
    NumberAssigned,
    NumberReleased,
    OfficeHours,
    OfficeHoursChanged,
    PlanChanged,
    SecretaryBookRevised,
)
from libs.events.intake import (
    NumberAddedToPool,
    OffboardingCancelled,
    OffboardingScheduled,
)
from services.intake.domain.basics import changeable as _changeable
from services.intake.domain.basics import check_terms as _check_terms
from services.intake.domain.basics import event_of as _event
from services.intake.domain.basics import existing as _existing
from services.intake.domain.commands import (
    ActivateClient,
    AddNumbersToPool,
    AssignNumber,
    BookContent,
    CancelOffboarding,
    ChangeNotification,
    ChangeOfficeHours,
    ChangePlan,
    Command,
    IssueApiKey,
    OffboardClient,
    RegisterClient,
    ReleaseNumber,
    ReviseBook,
    RevokeApiKey,
)
from services.intake.domain.decide_onboarding import ONBOARDING_DECIDERS
from services.intake.domain.onboarding import require_ready_for
from services.intake.domain.phone import normalise_number
from services.intake.domain.pool import in_quarantine, quarantine_end
from services.intake.domain.rules import plan_in_force
from services.intake.domain.state import State, local_date


def decide(command: Command, state: State) -> list[Event]:
    """The events that record the command's effect; raises NotFound, Conflict or Rejected."""
    decider = _DECIDERS.get(type(command))
    if decider is None:
        raise TypeError(f"no decision for {type(command).__name__}")
    return decider(command, state)


def _register(command: RegisterClient, state: State) -> list[Event]:
    if state.client is not None:
        raise Conflict(f"client {command.client_id} is already registered")
    _check_terms(command.plan, command.email_handling)
    _check_office_hours(command.office_hours)
    return [
        _event(
            ClientRegistered,
            command,
            name=command.name,
            contact_email=command.contact_email,
            language=command.language,
            plan=command.plan,
            email_handling=command.email_handling,
            notification=command.notification,
            office_hours=command.office_hours,
            cold_calls_free=command.cold_calls_free,
        )
    ]


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_office_hours(office_hours: OfficeHours) -> None:
    if office_hours.timezone not in _known_timezones():
        raise Rejected(f"office_hours.timezone: unknown time zone {office_hours.timezone!r}")


def _activate(command: ActivateClient, state: State) -> list[Event]:
    client = _changeable(command, state)
    if client.status == "active":
        raise Conflict(f"client {client.client_id} is already active")
    if not client.books:
        raise Conflict("a client needs a secretary book before it can be activated")
    if not state.numbers_of(client.client_id):
        raise Conflict("a client needs a forwarding number before it can be activated")
    if client.onboarding is not None:
        require_ready_for(client.onboarding, "active")
    return [_event(ClientActivated, command)]


def _offboard(command: OffboardClient, state: State) -> list[Event]:
    client = _changeable(command, state)
    if command.scheduled and (client.offboard_at is None or client.offboard_at > command.at):
        raise Conflict(f"client {client.client_id} no longer leaves now: the departure was "
                       "cancelled or moved")  # fmt: skip
    if command.effective_at is not None and command.effective_at > command.at:
        return [_event(OffboardingScheduled, command, effective_at=command.effective_at,
                       reason=command.reason)]  # fmt: skip
    offboarded = _event(ClientOffboarded, command, reason=command.reason)
    until = quarantine_end(command.at, command.quarantine)
    released = [
        _event(NumberReleased, command, number=number, quarantine_until=until)
        for number in state.numbers_of(client.client_id)
    ]
    return [offboarded, *released]


def _cancel_offboarding(command: CancelOffboarding, state: State) -> list[Event]:
    client = _changeable(command, state)
    if client.offboard_at is None:
        raise Conflict(f"client {client.client_id} has no departure scheduled")
    return [_event(OffboardingCancelled, command, was_effective_at=client.offboard_at,
                   reason=command.reason)]  # fmt: skip


def _assign(command: AssignNumber, state: State) -> list[Event]:
    client = _changeable(command, state)
    if client.onboarding is not None and client.status != "active":
        require_ready_for(client.onboarding, "number")
    if command.number is None:  # the command handler names the next free one, if any
        raise Conflict("the pool has no free number: add numbers to it first (POST /numbers)")
    number = normalise_number(command.number)
    holder = state.holders.get(number)
    if holder == client.client_id:
        raise Conflict(f"client {client.client_id} already holds {number}")
    if holder is not None:
        raise Conflict(f"{number} is taken: it is assigned to another client")
    until = state.quarantine_of(number)
    if until is not None and in_quarantine(until, command.at):
        raise Conflict(
            f"{number} rests in quarantine until {until.isoformat()} after its last client; "
            "reserve another number"
        )
    added = [] if number in state.pool else [_pool_event(command, number)]
    return [*added, _event(NumberAssigned, command, number=number)]


def _pool_event(command: Command, number: str) -> NumberAddedToPool:
    """The pool's own event (its client_id is the pool's, not the command's client)."""
    return NumberAddedToPool(
        occurred_at=command.at,
        actor=command.actor,
        correlation_id=command.correlation_id,
        number=number,
    )


def _add_to_pool(command: AddNumbersToPool, state: State) -> list[Event]:
    numbers = dict.fromkeys(normalise_number(raw) for raw in command.numbers)
    return [_pool_event(command, number) for number in numbers if number not in state.pool]


def _release(command: ReleaseNumber, state: State) -> list[Event]:
    client = _existing(command, state)
    number = normalise_number(command.number)
    if state.holders.get(number) != client.client_id:
        raise NotFound(f"client {client.client_id} does not hold {number}")
    until = quarantine_end(command.at, command.quarantine)
    return [_event(NumberReleased, command, number=number, quarantine_until=until)]


def _revise_book(command: ReviseBook, state: State) -> list[Event]:
    client = _changeable(command, state)
    expected = command.expected_version
    if expected is not None and expected != client.book_version:
        raise Conflict(
            f"the book is at version {client.book_version}, not {expected}: "
            "reload it and apply your changes again"
        )
    _check_book(command.content)
    content = {f.name: getattr(command.content, f.name) for f in fields(command.content)}
    return [_event(SecretaryBookRevised, command, book_version=client.book_version + 1, **content)]


def _check_book(book: BookContent) -> None:
    for contact in book.escalation_contacts:
        if contact.phone is None:
            continue
        try:
            normalise_number(contact.phone)
        except Rejected as exc:
            raise Rejected(f"escalation contact {contact.name!r}: {exc}") from exc
    needs = {"transfer": "phone", "sms": "phone", "email": "email", "chat": "chat_webhook_url"}
    for rule in book.urgency_rules:
        for channel in rule.channels:
            attribute = needs[channel]
            if not any(getattr(c, attribute) for c in book.escalation_contacts):
                raise Rejected(
                    f"urgency rule {rule.kind!r} uses {channel}, "
                    f"but no escalation contact has a {attribute}"
                )


def _change_plan(command: ChangePlan, state: State) -> list[Event]:
    client = _changeable(command, state)
    today = local_date(command.at)
    if command.effective_from < today:
        raise Rejected(
            f"effective_from {command.effective_from} is in the past (today is {today}); "
            "a correction of past terms is a credit note, not a plan change"
        )
    email_handling = command.email_handling
    if email_handling is None:
        current = plan_in_force(client.plans, command.effective_from)
        email_handling = current.email_handling if current else EmailHandling()
    _check_terms(command.plan, email_handling)
    return [
        _event(
            PlanChanged,
            command,
            plan=command.plan,
            email_handling=email_handling,
            effective_from=command.effective_from,
        )
    ]


def _change_notification(command: ChangeNotification, state: State) -> list[Event]:
    _changeable(command, state)
    return [_event(NotificationPreferencesChanged, command, notification=command.notification)]


def _change_office_hours(command: ChangeOfficeHours, state: State) -> list[Event]:
    _changeable(command, state)
    _check_office_hours(command.office_hours)
    return [_event(OfficeHoursChanged, command, office_hours=command.office_hours)]


def _issue_key(command: IssueApiKey, state: State) -> list[Event]:
    _changeable(command, state)
    if command.key_id in state.keys:
        raise Conflict(f"API key {command.key_id} was issued already")
    return [
        _event(
            ApiKeyIssued,
            command,
            key_id=command.key_id,
            role=command.role,
            name=command.name,
            secret_sha256=command.secret_sha256,
        )
    ]


def _revoke_key(command: RevokeApiKey, state: State) -> list[Event]:
    key = state.keys.get(command.key_id)
    if key is None or key.client_id != command.client_id:
        raise NotFound(f"no API key {command.key_id}")
    if key.revoked:
        raise Conflict(f"API key {command.key_id} was revoked already")
    return [_event(ApiKeyRevoked, command, key_id=command.key_id)]


_DECIDERS: dict[type[Command], Callable[[Any, State], list[Event]]] = {
    RegisterClient: _register,
    ActivateClient: _activate,
    OffboardClient: _offboard,
    CancelOffboarding: _cancel_offboarding,
    AssignNumber: _assign,
    AddNumbersToPool: _add_to_pool,
    ReleaseNumber: _release,
    ReviseBook: _revise_book,
    ChangePlan: _change_plan,
    ChangeNotification: _change_notification,
    ChangeOfficeHours: _change_office_hours,
    IssueApiKey: _issue_key,
    RevokeApiKey: _revoke_key,
    **ONBOARDING_DECIDERS,
}
