"""Calls in-process: its store in a rolled-back PostgreSQL transaction, its API on that store.

The API runs as a caller the test chooses (`Acting.principal`), standing in for the verified
principal of a bearer token or API key, so each role and tenant is tried without Keycloak.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI

from libs.events import Event, OfficeHours, new_id
from libs.platform.auth import Principal, principal
from libs.platform.consumer import Handler, HandlerContext
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from libs.platform.store import EventStore
from services.calls import api, reactions, read_model
from services.calls.commands import Outcome, execute
from services.calls.domain.commands import Command, ReceiveCall
from services.calls.domain.model import stream_id
from services.calls.settings import CallsSettings
from tests.support.access import STAFF
from tests.support.builders import (
    book_revised,
    fresh_number,
    leak_rule,
    number_assigned,
    registered,
)

MONDAY_10 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # 10:00 in Amsterdam, office open


@dataclass
class Calls:
    """Calls' store in a rolled-back schema, and the means to feed it events and commands."""

    store: EventStore
    now: datetime = MONDAY_10

    async def intake(self, *events: Event) -> None:
        """Hand intake's events to calls' reactions, as its consumer would."""
        await self._consume(reactions.HANDLERS, events)

    async def calendar(self, *events: Event) -> None:
        """Hand the calendar service's events to calls' reactions, as its consumer would.

        Without the consumer's inbox: a second delivery reaches the handler too.
        """
        await self._consume(reactions.CALENDAR, events)

    async def _consume(self, handlers: Mapping[str, Handler], events: Sequence[Event]) -> None:
        for event in events:
            handler = handlers.get(event.type)
            if handler is not None:
                ctx = HandlerContext(self.store.pool, self.store, lambda: self.now)
                await handler(event, ctx)

    async def client(
        self, *, cold_calls_free: bool = False, hours: OfficeHours | None = None
    ) -> str:
        """A client with a number and book v1 (a leak rule); returns its number."""
        client = registered(
            at=self.now, cold_calls_free=cold_calls_free, office_hours=hours or OfficeHours()
        )
        number = fresh_number()
        await self.intake(
            client,
            number_assigned(client.client_id, number, self.now),
            book_revised(client.client_id, 1, self.now, urgency_rules=(leak_rule(),)),
        )
        return number

    async def call(self, number: str, call_id: UUID | None = None) -> Outcome:
        """A call to the number, now."""
        return await self.run(
            ReceiveCall(
                call_id=call_id or new_id(),
                at=self.now,
                dialled_number=number,
                caller_number="+31612345678",
                received_at=self.now,
            )
        )

    async def run(self, command: Command) -> Outcome:
        """Run a command, a minute after the last one."""
        self.now += timedelta(minutes=1)
        return await execute(self.store, command)

    async def row(self, call_id: UUID) -> dict[str, Any]:
        """The call's read row."""
        found = await read_model.get_call(self.store.pool, self.store.schema, call_id, None)
        assert found is not None
        return found

    async def events(self, call_id: UUID) -> list[Event]:
        """The call's stream."""
        return [s.event for s in await self.store.load(stream_id(call_id))]


@dataclass
class Acting:
    """Who the in-process API takes the caller for (staff unless a test says otherwise)."""

    principal: Principal = field(default=STAFF)


@asynccontextmanager
async def calls_api(calls: Calls, acting: Acting) -> AsyncIterator[httpx.AsyncClient]:
    """Calls' API in-process on the rolled-back store at `calls.now`; a 10-minute window."""
    app = FastAPI()
    install_problems(app)
    app.include_router(api.router)
    app.state.service_settings = CallsSettings(max_backdate_seconds=600)
    app.state.runtime = SimpleNamespace(clock=SimpleNamespace(now=lambda: calls.now))
    app.dependency_overrides[event_store] = lambda: calls.store
    app.dependency_overrides[principal] = lambda: acting.principal
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://calls") as client:
        yield client
