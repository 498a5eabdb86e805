"""The intake rules: given the state, what a command changes (as events) or why it cannot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar
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
    FixedMonthlyPlan,
    NotificationPreferencesChanged,
    NumberAssigned,
    NumberReleased,
    OfficeHours,
    OfficeHoursChanged,
    Plan,
    PlanChanged,
    PunchCardPlan,
    SecretaryBookRevised,
)
from services.intake.domain.commands import (
    ActivateClient,
    AssignNumber,
    BookContent,
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
from services.intake.domain.phone import normalise_number
from services.intake.domain.rules import plan_in_force
from services.intake.domain.state import ClientState, State, local_date

MAX_CENTS = 100_000_000
"""EUR 1,000,000: any larger amount on an intake form is a typing error."""
MAX_INCLUDED_CALLS = 1_000_000
E = TypeVar("E", bound=Event)


def decide(command: Command, state: State) -> list[Event]:
    """The events that record the command's effect; raises NotFound, Conflict or Rejected."""
    decider = _DECIDERS.get(type(command))
    if decider is None:
        raise TypeError(f"no decision for {type(command).__name__}")
    return decider(command, state)


def _event(cls: type[E], command: Command, **values: Any) -> E:
    """An event of the command's client, at its time, by its actor; bad values are Rejected."""
    try:
        event = cls(
            client_id=command.client_id,
            occurred_at=command.at,
            actor=command.actor,
            correlation_id=command.correlation_id,
            **values,
        )
    except ValueError as exc:  # pydantic's ValidationError: a value no event may carry
        raise Rejected(_readable(exc)) from exc
    _check_storable(event.model_dump(mode="python"), "")
    return event


def _check_storable(value: object, where: str) -> None:
    """Text must survive JSON and PostgreSQL: no NUL characters, no lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            raise Rejected(f"{where}: text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Rejected(f"{where}: text must be valid Unicode (no lone surrogates)") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_storable(item, f"{where}[{index}]")


def _readable(exc: ValueError) -> str:
    """`field: problem; ...` from a pydantic ValidationError, without echoing the input."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    problems = []
    for error in errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(problems)


def _existing(command: Command, state: State) -> ClientState:
    if state.client is None or state.client.client_id != command.client_id:
        raise NotFound(f"no client {command.client_id}")
    return state.client


def _changeable(command: Command, state: State) -> ClientState:
    client = _existing(command, state)
    if client.status == "offboarded":
        raise Conflict(f"client {client.client_id} was offboarded; nothing about it can change")
    return client


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


def _check_terms(plan: Plan, email_handling: EmailHandling) -> None:
    amounts = {"email_handling.monthly_fee_cents": email_handling.monthly_fee_cents}
    if isinstance(plan, FixedMonthlyPlan):
        amounts["plan.monthly_amount_cents"] = plan.monthly_amount_cents
        if plan.included_calls > MAX_INCLUDED_CALLS:
            raise Rejected(f"plan.included_calls: at most {MAX_INCLUDED_CALLS}")
    if isinstance(plan, PunchCardPlan):
        amounts["plan.low_balance_threshold_cents"] = plan.low_balance_threshold_cents
    for name, cents in amounts.items():
        if cents > MAX_CENTS:
            raise Rejected(f"{name}: at most {MAX_CENTS} cents (EUR {MAX_CENTS // 100:,})")


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
    return [_event(ClientActivated, command)]


def _offboard(command: OffboardClient, state: State) -> list[Event]:
    client = _changeable(command, state)
    offboarded = _event(ClientOffboarded, command, reason=command.reason)
    released = [
        _event(NumberReleased, command, number=number)
        for number in state.numbers_of(client.client_id)
    ]
    return [offboarded, *released]


def _assign(command: AssignNumber, state: State) -> list[Event]:
    client = _changeable(command, state)
    number = normalise_number(command.number)
    holder = state.holders.get(number)
    if holder == client.client_id:
        raise Conflict(f"client {client.client_id} already holds {number}")
    if holder is not None:
        raise Conflict(f"{number} is taken: it is assigned to another client")
    return [_event(NumberAssigned, command, number=number)]


def _release(command: ReleaseNumber, state: State) -> list[Event]:
    client = _existing(command, state)
    number = normalise_number(command.number)
    if state.holders.get(number) != client.client_id:
        raise NotFound(f"client {client.client_id} does not hold {number}")
    return [_event(NumberReleased, command, number=number)]


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
    AssignNumber: _assign,
    ReleaseNumber: _release,
    ReviseBook: _revise_book,
    ChangePlan: _change_plan,
    ChangeNotification: _change_notification,
    ChangeOfficeHours: _change_office_hours,
    IssueApiKey: _issue_key,
    RevokeApiKey: _revoke_key,
}
