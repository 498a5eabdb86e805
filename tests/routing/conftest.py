"""A running routing service fed by seeded intake and calls event stores, shared by a package.

Routing is a real process on the shared simulation clock, which the tests move.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from libs.events import CallReceived, EscalationRequested, Event, OfficeHours, new_id
from libs.events.intake import Channel
from libs.events.values import Language
from services.routing.migrations import MIGRATIONS
from tests.support.builders import (
    book_revised,
    call_ended,
    call_received,
    contacts,
    escalation_requested,
    leak_rule,
    registered,
)
from tests.support.pipeline import metric_value, wait_until
from tests.support.rollback import RolledBackStore, rolled_back_store
from tests.support.stack import (
    Infrastructure,
    Stack,
    get_when,
    private_world,
    running_stack,
    topic_events,
)

ROUTING_APP = "services.routing.app:create_app"
TWILIO_TOKEN = "test-routing-twilio-token"
ACK_SECRET = "test-routing-ack-secret"
PUBLIC_BASE_URL = "https://routing.frontdesk.example"
ROUTING_ENV = {
    "FRONTDESK_CLOCK": "simulated",
    "FRONTDESK_ROUTING_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "FRONTDESK_ROUTING_ACK_SECRET": ACK_SECRET,
    "FRONTDESK_ROUTING_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "FRONTDESK_ROUTING_TIMER_POLL_SECONDS": "0.5",
}


@dataclass(frozen=True)
class Client:
    """A client seeded into intake's store."""

    client_id: UUID
    language: Language


@asynccontextmanager
async def routing_stack(infra: Infrastructure, home: Path) -> AsyncIterator[Stack]:
    """A routing process fed by intake and calls, on fresh topics and schemas."""
    async with (
        private_world(infra, home) as world,
        running_stack(
            Stack, world, ROUTING_APP, feeds=("intake", "calls"), env=ROUTING_ENV
        ) as stack,
    ):
        yield stack


@pytest.fixture(scope="package")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One routing stack shared by the API and fuzz tests (a process takes seconds to start)."""
    async with routing_stack(infra, tmp_path_factory.mktemp("routing")) as shared:
        yield shared


async def seed_client(
    stack: Stack,
    *,
    language: Language = "nl",
    channels: tuple[Channel, ...] = ("sms",),
    ack_timeout_seconds: int = 600,
    office_hours: OfficeHours | None = None,
) -> Client:
    """Register a client whose book (v1) escalates leaks to three contacts; wait for routing."""
    client_id = new_id()
    rule = leak_rule(description="Leak", channels=channels, ack_timeout_seconds=ack_timeout_seconds)
    events: list[Event] = [
        registered(client_id, language=language, office_hours=office_hours or OfficeHours()),
        book_revised(client_id, urgency_rules=(rule,), escalation_contacts=contacts()),
    ]
    await stack.append(events)
    await _until_known(stack, client_id)
    return Client(client_id, language)


async def _until_known(stack: Stack, client_id: UUID) -> None:
    async def known() -> bool:
        found = await stack.pool.fetchval(
            f"SELECT count(*) FROM {stack.schema}.directory_books WHERE client_id = $1", client_id
        )
        return bool(found)

    await wait_until(known, within=30, what=f"routing to learn client {client_id}")


async def receive(stack: Stack, client: Client, received_at: str) -> CallReceived:
    """A call to the client, as the calls service records it."""
    event = call_received(client.client_id, datetime.fromisoformat(received_at))
    await stack.stores["calls"].append(f"call-{event.call_id}", 0, [event])
    return event


async def end_call(stack: Stack, call: CallReceived) -> None:
    """The call ended."""
    await stack.append([call_ended(call)])


async def escalate(stack: Stack, call: CallReceived) -> EscalationRequested:
    """The operator escalates the call under the book's leak rule (v1 on screen)."""
    event = escalation_requested(call)
    await stack.append([event])
    return event


async def routing_of(stack: Stack, call_id: UUID) -> dict[str, Any]:
    """GET /calls/{id}/routing once routing has routed the call."""
    found: dict[str, Any] = await get_when(
        stack.http, f"/calls/{call_id}/routing", lambda body: body.get("route") is not None,
        what=f"routing to route call {call_id}",
    )  # fmt: skip
    return found


async def escalation(stack: Stack, escalation_id: UUID, attempts: int) -> dict[str, Any]:
    """GET /escalations/{id} once it has made `attempts` attempts (or ended)."""
    found: dict[str, Any] = await get_when(
        stack.http, f"/escalations/{escalation_id}",
        lambda body: len(body.get("attempts", ())) >= attempts,
        what=f"{attempts} attempts of {escalation_id}",
    )  # fmt: skip
    return found


async def routing_events(stack: Stack) -> list[Event]:
    """Every event on the routing topic of this stack, duplicates from redelivery removed."""
    return await topic_events(stack.world, "routing", unique=True)


async def clock(stack: Stack, **change: Any) -> datetime:
    """Move the shared clock through routing's POST /clock (or just read it)."""
    if change:
        response = await stack.http.post("/clock", json=change)
        assert response.status_code == 200, response.text
    else:
        response = await stack.http.get("/clock")
    return datetime.fromisoformat(response.json()["now"])


def timer_rounds(stack: Stack) -> float:
    """How many rounds routing's escalation timer loop has finished so far."""
    return metric_value(stack.url, "frontdesk_ticks_total", ticker="escalation-timers")


async def timers_ran(stack: Stack, *, since: float) -> None:
    """Wait until the timer loop finished two more rounds: one at least saw the new time."""

    async def two_more() -> bool:
        return timer_rounds(stack) >= since + 2

    await wait_until(two_more, within=30, what="two rounds of the escalation timers")


async def put_operator(stack: Stack, operator_id: str, *languages: Language) -> dict[str, Any]:
    """Add an operator and make them available."""
    body = {"name": operator_id.title(), "languages": list(languages)}
    assert (await stack.http.put(f"/operators/{operator_id}", json=body)).status_code == 200
    response = await stack.http.put(
        f"/operators/{operator_id}/presence", json={"presence": "available"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[RolledBackStore]:
    """Routing's tables in a fresh schema, created inside a transaction rolled back afterwards."""
    async with rolled_back_store(database_url, "routing", MIGRATIONS, "test") as rolled_back:
        yield rolled_back
