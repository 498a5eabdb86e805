"""Billing in-process: its reactions, commands and API on a rolled-back transaction.

Events are handed to the handlers of billing's subscription as its consumer would (one
savepoint per message, with a log position); the API runs on the same store with a fixed
clock. Requests act as `Billing.caller` (staff unless a test says otherwise); with no caller
set they go through the real credential check (API keys from billing's own table).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI, Request

from libs.events import Event
from libs.events.catalogue import topic_for
from libs.platform import api_keys
from libs.platform.auth import Principal, principal
from libs.platform.consumer import Handler, HandlerContext
from libs.platform.db import Connection
from libs.platform.http import event_store
from libs.platform.problems import install_problems
from services.billing import api, commands, read_model
from services.billing.commands import RunResult, stream_id
from services.billing.domain.replay import LoggedEvent
from services.billing.reactions import handlers, input_topics
from services.billing.settings import BillingSettings
from tests.billing.history import STAFF, at
from tests.support.rollback import RolledBackStore

PREFIX = "inproc"
JANUARY = "2026-01"
RUN_AT = at("2026-02-01T09:00:00")
STAFF_CALLER = Principal(subject="staff-1", name="staff", role="staff", client_id=None,
                         via="token")  # fmt: skip


def _handlers() -> dict[str, Handler]:
    return handlers(BillingSettings())


@dataclass
class Billing:
    """Billing's reactions and commands on one rolled-back transaction, with a fixed clock."""

    conn: Connection
    store: RolledBackStore
    now: datetime = RUN_AT
    logged: list[LoggedEvent] = field(default_factory=list)
    handlers: dict[str, Handler] = field(default_factory=_handlers)
    caller: Principal | None = STAFF_CALLER

    async def consume(self, *events: Event) -> None:
        """Hand events to billing's subscription as its consumer would, one savepoint each."""
        for event in events:
            topic = topic_for(event.service, PREFIX)
            offset = sum(1 for e in self.logged if e.topic == topic)
            self.logged.append(LoggedEvent(event, topic, 0, offset))
            ctx = HandlerContext(
                self.conn, self.store, lambda: self.now, position=(topic, 0, offset)
            )
            async with self.conn.transaction():
                await self.handlers[event.type](event, ctx)

    async def run(self, period: str = JANUARY, client_id: UUID | None = None) -> list[RunResult]:
        """An invoice run at the fixed instant."""
        return await commands.run_invoices(
            self.store, period, client_id, self.now, input_topics(PREFIX), STAFF
        )

    async def stream(self, client_id: UUID) -> list[Event]:
        """The client's billing stream, as appended."""
        return [stored.event for stored in await self.store.load(stream_id(client_id))]

    async def document(self, document_id: UUID | None, kind: str = "invoice") -> dict[str, Any]:
        """An issued document as stored in the read model."""
        row = await read_model.document(
            self.conn, self.store.schema, document_id, kind, tenant=None
        )
        assert row is not None, f"no {kind} {document_id}"
        return {**read_model.payload(row), "purpose": row["purpose"]}

    def log(self, own: Sequence[Event]) -> list[LoggedEvent]:
        """The log a replay would read: the inputs consumed, then billing's own topic."""
        topic = topic_for("billing", PREFIX)
        return [*self.logged, *(LoggedEvent(e, topic, 0, n) for n, e in enumerate(own))]


def billing_app(billing: Billing) -> FastAPI:
    """Billing's API on the rolled-back store, its clock at `billing.now`, as `billing.caller`."""
    app = FastAPI()
    install_problems(app)
    app.include_router(api.router)
    app.state.service_settings = BillingSettings()
    settings = SimpleNamespace(topic_prefix=PREFIX, auth_staff_keys_sha256=[])
    clock = SimpleNamespace(now=lambda: billing.now)
    app.state.runtime = SimpleNamespace(
        clock=clock, settings=settings, require_store=lambda: billing.store
    )
    app.state.api_keys = api_keys.check

    async def acting(request: Request) -> Principal:
        return billing.caller or await principal(request)

    app.dependency_overrides[principal] = acting
    app.dependency_overrides[event_store] = lambda: billing.store
    return app


@asynccontextmanager
async def http_client(billing: Billing) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process billing API."""
    transport = httpx.ASGITransport(app=billing_app(billing))
    async with httpx.AsyncClient(transport=transport, base_url="http://billing") as client:
        yield client
