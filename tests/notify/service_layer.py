"""Notify's pieces wired to one rolled-back PostgreSQL transaction, for the service-layer tests:
events go to the reactions directly, a fixed clock tells the time, fake transports take mail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from libs.events import Event
from libs.platform.clock import FixedClock
from libs.platform.consumer import HandlerContext
from libs.platform.store import EventStore
from services.notify import reactions
from services.notify.delivery import DeliveryError, Outgoing
from services.notify.migrations import MIGRATIONS
from services.notify.notifier import Notifier, bootstrap
from services.notify.settings import NotifySettings
from tests.support.rollback import RolledBackStore, rolled_back_store


class Transport:
    """A channel adapter that fails with the errors it is given, then accepts."""

    def __init__(self) -> None:
        self.failures: list[DeliveryError] = []
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        """Raise the next failure, or record the message as accepted."""
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


@dataclass
class Service:
    """Notify's pieces wired to one rolled-back transaction and a fixed clock."""

    store: RolledBackStore
    clock: FixedClock
    notifier: Notifier
    transports: dict[str, Transport]

    @property
    def conn(self) -> asyncpg.Connection:
        """The test's connection, inside its transaction."""
        return self.store.conn

    @property
    def schema(self) -> str:
        """Notify's schema for this test."""
        return self.store.schema

    @property
    def pool(self) -> Any:
        """The transaction's connection, looking like a pool to the code under test."""
        return self.store.pool

    def require_store(self) -> EventStore:
        """What the sender asks its runtime for."""
        return self.store

    async def react(self, *events: Event) -> None:
        """Hand events to notify's reactions, as the consumer would, in the transaction."""
        await self._handle(events, replay=False)

    async def replay(self, *events: Event) -> None:
        """Hand events to notify's reactions as a replay does: tables only, nothing queued."""
        await self._handle(events, replay=True)

    async def _handle(self, events: tuple[Event, ...], *, replay: bool) -> None:
        handlers = {
            **reactions.bind(self.notifier),
            **reactions.bind(self.notifier, reactions.CALENDAR_HANDLERS),
            **reactions.bind(self.notifier, reactions.INBOX_HANDLERS),
        }
        for event in events:
            ctx = HandlerContext(
                conn=self.conn, store=self.store, now=self.clock.now, replay=replay
            )
            await handlers[event.type](event, ctx)

    async def outgoing(self, client_id: UUID) -> list[asyncpg.Record]:
        """The client's queued notifications, oldest first."""
        return await self.conn.fetch(
            f"SELECT *, next_attempt_at - now() AS wait FROM {self.schema}.outgoing "
            "WHERE client_id = $1 ORDER BY created_at, dedupe_key",
            client_id,
        )

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        """The payloads of one type that notify appended to its own event store."""
        rows = await self.conn.fetch(
            f"SELECT payload FROM {self.schema}.events WHERE event_type = $1 "
            "ORDER BY stream_id, stream_version",
            event_type,
        )
        return [json.loads(row["payload"]) for row in rows]


def fake_transports() -> dict[str, Transport]:
    """One fake transport per channel."""
    return {"email": Transport(), "sms": Transport(), "chat": Transport()}


@asynccontextmanager
async def rolled_back_service(
    database_url: str, transports: Mapping[str, Transport], now: datetime
) -> AsyncIterator[Service]:
    """Notify's tables in a fresh schema inside a transaction that is rolled back after."""
    settings = NotifySettings(send_attempts=1, max_claims=3, chat_allow_http=True)
    notifier = bootstrap(settings, transports)  # type: ignore[arg-type]
    async with rolled_back_store(database_url, "notify", MIGRATIONS, "t") as store:
        yield Service(store, FixedClock(now), notifier, dict(transports))
