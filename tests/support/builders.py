"""Builders of the events tests feed the services: a client set up at intake, a call at calls.

Every builder fills in what a test does not care about with plausible values; a test passes
what it does care about. Times default to now (the processes under test run on real time
unless a test moves a simulated clock).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from libs.events import (
    CallEnded,
    CallReceived,
    ClientRegistered,
    EscalationContact,
    EscalationRequested,
    NoteRecorded,
    NotificationPreferences,
    NumberAssigned,
    PerCallPlan,
    SecretaryBookRevised,
    UrgencyRule,
    new_id,
)

CONTACT_EMAIL = "jan@bakker.nl"
DIALLED = "+31851234567"
CALLER = "+31612345678"
OPERATOR = "op-anna"


def now() -> datetime:
    """The real current instant."""
    return datetime.now(UTC)


def fresh_number() -> str:
    """A valid Dutch 085 number no other test uses (with overwhelming probability)."""
    return f"+3185{random.randrange(10**7):07d}"


def registered(
    client_id: UUID | None = None, at: datetime | None = None, **fields: Any
) -> ClientRegistered:
    """A client signed up: a Dutch plumber on a per-call plan, mailed at its contact address."""
    client_id = client_id or new_id()
    email = fields.pop("contact_email", CONTACT_EMAIL)
    values: dict[str, Any] = {
        "name": f"Bakker {client_id.hex[-6:]}",
        "language": "nl",
        "plan": PerCallPlan(),
        "notification": NotificationPreferences(recipients=(email,)),
        **fields,
    }
    return ClientRegistered(
        client_id=client_id, occurred_at=at or now(), contact_email=email, **values
    )


def number_assigned(
    client_id: UUID, number: str, at: datetime | None = None, **fields: Any
) -> NumberAssigned:
    """The number was assigned to the client."""
    return NumberAssigned(client_id=client_id, occurred_at=at or now(), number=number, **fields)


def book_revised(
    client_id: UUID, version: int = 1, at: datetime | None = None, **fields: Any
) -> SecretaryBookRevised:
    """Version `version` of the client's secretary book."""
    values: dict[str, Any] = {"greeting": "Bakker, goedemorgen", **fields}
    return SecretaryBookRevised(
        client_id=client_id, occurred_at=at or now(), book_version=version, **values
    )


def leak_rule(**fields: Any) -> UrgencyRule:
    """The book's rule for a water leak, escalated by SMS."""
    values: dict[str, Any] = {"description": "Water leak", "channels": ("sms",), **fields}
    return UrgencyRule(kind="leak", **values)


def contacts(n: int = 3) -> tuple[EscalationContact, ...]:
    """A chain of `n` contacts, each with a phone and an e-mail address."""
    return tuple(
        EscalationContact(name=f"Contact {i}", phone=f"+3161000000{i}", email=f"c{i}@bakker.nl")
        for i in range(n)
    )


def call_received(
    client_id: UUID, at: datetime | None = None, *, caller: str | None = CALLER, **fields: Any
) -> CallReceived:
    """A call to the client's number during office hours, on book version 1."""
    received_at = at or now()
    values: dict[str, Any] = {
        "call_id": new_id(),
        "dialled_number": DIALLED,
        "book_version": 1,
        "office_open": True,
        **fields,
    }
    return CallReceived(
        client_id=client_id, occurred_at=received_at, received_at=received_at,
        caller_number=caller, **values,
    )  # fmt: skip


def on_call(call: CallReceived, at: datetime | None = None) -> dict[str, Any]:
    """The envelope of a later event of the call: same call, client and correlation."""
    return {
        "call_id": call.call_id,
        "client_id": call.client_id,
        "occurred_at": at or now(),
        "correlation_id": call.correlation_id,
    }


def note_recorded(
    call: CallReceived, message: str, at: datetime | None = None, **fields: Any
) -> NoteRecorded:
    """The operator's note of the call: who called, and what they want."""
    values: dict[str, Any] = {
        "operator_id": OPERATOR,
        "book_version": call.book_version,
        "caller_name": "Piet Jansen",
        "caller_company": "Jansen & Zonen",
        "caller_number": "+31687654321",
        "follow_up": "call_back",
        "actions_taken": "Agenda checked",
        "information_given": "Opening hours",
        **fields,
    }
    return NoteRecorded(**on_call(call, at), message=message, **values)


def call_ended(call: CallReceived, at: datetime | None = None) -> CallEnded:
    """The call ended (at `at`, or now)."""
    envelope = on_call(call, at)
    return CallEnded(**envelope, ended_at=envelope["occurred_at"])


def escalation_requested(
    call: CallReceived, at: datetime | None = None, **fields: Any
) -> EscalationRequested:
    """The operator escalates the call under the book's leak rule (v1 on screen)."""
    values: dict[str, Any] = {
        "escalation_id": new_id(),
        "urgency_kind": "leak",
        "reason": "water everywhere",
        "book_version": 1,
        **fields,
    }
    return EscalationRequested(**on_call(call, at), **values)
