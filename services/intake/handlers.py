"""Command handlers: load the streams, fold, decide, append and project in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import structlog

from libs.errors import Conflict, NotFound
from libs.events import Event, NumberAssigned, NumberReleased, decode
from libs.platform.db import Connection
from libs.platform.store import ConcurrencyConflict, EventStore
from services.intake.domain import (
    AssignNumber,
    Command,
    RegisterClient,
    ReleaseNumber,
    decide,
    fold,
    normalise_number,
)
from services.intake.projections import project

log = structlog.get_logger(__name__)


def client_stream(client_id: UUID) -> str:
    """The stream of a client's own events (lifecycle, book, plan, preferences)."""
    return f"client-{client_id}"


def number_stream(number: str) -> str:
    """The stream of one forwarding number: who held it when. One holder at a time."""
    return f"number-{number}"


def stream_of(event: Event) -> str:
    """The stream an intake event is appended to."""
    if isinstance(event, NumberAssigned | NumberReleased):
        return number_stream(event.number)
    return client_stream(event.client_id)


async def execute(store: EventStore, command: Command) -> list[Event]:
    """Run the command; a concurrent writer makes it decide again once on the fresh state."""
    try:
        return await _attempt(store, command)
    except ConcurrencyConflict as exc:
        log.info("intake.concurrency_conflict", error=str(exc), retrying=True)
    try:
        return await _attempt(store, command)
    except ConcurrencyConflict as exc:
        raise Conflict(f"a concurrent change got there first ({exc}); try again") from exc


async def _attempt(store: EventStore, command: Command) -> list[Event]:
    async with store.transaction() as conn:
        if not isinstance(command, RegisterClient):
            await _lock_client(conn, store.schema, command.client_id)
        versions, history = await _load(conn, store.schema, command)
        events = decide(command, fold(history))
        await _append(store, conn, versions, events)
        await project(conn, store.schema, events)
    return events


async def _lock_client(conn: Connection, schema: str, client_id: UUID) -> None:
    # Commands on one client take turns: a number cannot be assigned while the client leaves.
    found = await conn.fetchval(
        f"SELECT true FROM {schema}.clients WHERE client_id = $1 FOR UPDATE", client_id
    )
    if not found:
        raise NotFound(f"no client {client_id}")


async def _load(
    conn: Connection, schema: str, command: Command
) -> tuple[dict[str, int], list[Event]]:
    """The client's events and those of the number the command names, in log order."""
    streams = [client_stream(command.client_id)]
    if isinstance(command, AssignNumber | ReleaseNumber):
        streams.append(number_stream(normalise_number(command.number)))
    rows = await conn.fetch(
        f"SELECT stream_id, stream_version, payload FROM {schema}.events "
        "WHERE client_id = $1 OR stream_id = ANY($2::text[]) ORDER BY position",
        command.client_id, streams,
    )  # fmt: skip
    versions: dict[str, int] = {}
    for row in rows:
        versions[row["stream_id"]] = max(versions.get(row["stream_id"], 0), row["stream_version"])
    return versions, [decode(row["payload"]) for row in rows]


async def _append(
    store: EventStore, conn: Connection, versions: dict[str, int], events: Sequence[Event]
) -> None:
    by_stream: dict[str, list[Event]] = {}
    for event in events:
        by_stream.setdefault(stream_of(event), []).append(event)
    for stream, batch in by_stream.items():
        await store.append(stream, versions.get(stream, 0), batch, conn=conn)
