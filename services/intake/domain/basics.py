"""What every intake decision builds on: the events of a command, the client it is about,
and the limits of commercial terms."""

from __future__ import annotations

from typing import Any, TypeVar

from libs.errors import Conflict, NotFound, Rejected
from libs.events import EmailHandling, Event, FixedMonthlyPlan, Plan, PunchCardPlan
from services.intake.domain.commands import Command
from services.intake.domain.state import ClientState, State

MAX_CENTS = 100_000_000
"""EUR 1,000,000: any larger amount on an intake form is a typing error."""
MAX_INCLUDED_CALLS = 1_000_000
E = TypeVar("E", bound=Event)


def event_of(cls: type[E], command: Command, **values: Any) -> E:
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


def existing(command: Command, state: State) -> ClientState:
    """The command's client; NotFound if it was never registered."""
    if state.client is None or state.client.client_id != command.client_id:
        raise NotFound(f"no client {command.client_id}")
    return state.client


def changeable(command: Command, state: State) -> ClientState:
    """The command's client, if it may still change (it has not left)."""
    client = existing(command, state)
    if client.status == "offboarded":
        raise Conflict(f"client {client.client_id} was offboarded; nothing about it can change")
    return client


def check_terms(plan: Plan, email_handling: EmailHandling) -> None:
    """Rejected when an amount or a count of the terms is beyond any real intake form."""
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
