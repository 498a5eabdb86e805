"""Given-when-then helpers for the intake domain tests: sample events and commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from libs.errors import DomainError
from libs.events import (
    ClientRegistered,
    Event,
    NotificationPreferences,
    NumberAssigned,
    NumberReleased,
    PerCallPlan,
    SecretaryBookRevised,
)
from libs.events.intake import POOL_ID, NumberAddedToPool
from services.intake.domain.commands import STAFF, Command
from services.intake.domain.decide import decide
from services.intake.domain.state import fold

CLIENT = UUID("01890a5d-ac96-774b-bcce-b302099a8057")
OTHER = UUID("01890a5d-ac96-774b-bcce-b302099a8099")
CORRELATION = UUID("01890a5d-ac96-774b-bcce-b30209900000")
AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday
NUMBER = "+31851234567"
SECOND_NUMBER = "+31851234568"
NOTIFY = NotificationPreferences(recipients=("gonny@example.nl",))


def envelope(client: UUID = CLIENT, at: datetime = AT) -> dict[str, Any]:
    """The envelope every event of a command in these tests carries."""
    return {"client_id": client, "occurred_at": at, "actor": STAFF, "correlation_id": CORRELATION}


def command(cls: type[Command], client: UUID = CLIENT, at: datetime = AT, **fields: Any) -> Any:
    """A command of `cls` for the client at `at`, with a fixed correlation id."""
    return cls(client_id=client, at=at, correlation_id=CORRELATION, **fields)


def registered(client: UUID = CLIENT, **fields: Any) -> ClientRegistered:
    """A client registered at AT on a per-call plan."""
    values: dict[str, Any] = {
        "name": "Bakkerij De Wit",
        "contact_email": "gonny@example.nl",
        "language": "nl",
        "plan": PerCallPlan(),
        "notification": NOTIFY,
        **fields,
    }
    return ClientRegistered(**envelope(client), **values)


def assigned(number: str = NUMBER, client: UUID = CLIENT) -> NumberAssigned:
    """The number was assigned to the client."""
    return NumberAssigned(**envelope(client), number=number)


def added_to_pool(number: str = NUMBER, at: datetime = AT) -> NumberAddedToPool:
    """Staff added the number to the bureau's pool."""
    return NumberAddedToPool(**{**envelope(at=at), "client_id": POOL_ID}, number=number)


def released(
    number: str = NUMBER, at: datetime = AT, until: datetime | None = None
) -> NumberReleased:
    """The client gave the number back; it rests until `until`."""
    return NumberReleased(**envelope(at=at), number=number, quarantine_until=until)


def revised(version: int, at: datetime = AT, **fields: Any) -> SecretaryBookRevised:
    """Book version `version` written at `at`."""
    greeting = fields.pop("greeting", f"Goedemorgen, versie {version}")
    return SecretaryBookRevised(
        **envelope(at=at), book_version=version, greeting=greeting, **fields
    )


def when(history: list[Event], cmd: Command) -> list[dict[str, Any]]:
    """The events the command decides on the history, without their random event ids."""
    return [e.model_dump(exclude={"event_id"}) for e in decide(cmd, fold(history))]


def then(*events: Event) -> list[dict[str, Any]]:
    """Expected events in the form `when` returns them."""
    return [e.model_dump(exclude={"event_id"}) for e in events]


def refused(history: list[Event], cmd: Command, error: type[DomainError], match: str) -> None:
    """The command is refused with this kind of error and a message matching `match`."""
    with pytest.raises(error, match=match):
        decide(cmd, fold(history))
