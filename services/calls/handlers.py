"""Command handlers: load the call's stream, fold, decide, append at the expected version.

The read model is updated in the same transaction as the append. A concurrent writer makes
the append fail with a conflict; the command is then decided again on the fresh stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from libs.errors import Conflict
from libs.events.envelope import Event
from libs.platform.db import Connection
from libs.platform.store import ConcurrencyConflict, EventStore
from services.calls import directory, metrics, projections
from services.calls.domain import (
    Call,
    Command,
    MarkNonBillable,
    ReceiveCall,
    RequestEscalation,
    decide,
    fold,
    stream_id,
)

ATTEMPTS = 3
log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The call after a command, and the events the command appended (none if nothing new)."""

    call: Call
    events: list[Event]


async def execute(store: EventStore, command: Command) -> Outcome:
    """Decide the command on the call's current state and append what follows."""
    for _ in range(ATTEMPTS):
        try:
            return await _attempt(store, command)
        except ConcurrencyConflict:
            continue
    raise Conflict(f"call {command.call_id} is being changed by someone else; try again")


async def _attempt(store: EventStore, command: Command) -> Outcome:
    stream = stream_id(command.call_id)
    state = fold(stored.event for stored in await store.load(stream))
    version = state.version if state else 0
    async with store.transaction() as conn:
        command = await _enrich(conn, store.schema, command, state)
        events = decide(command, state)
        if events:
            await store.append(stream, version, events, conn=conn)
            await projections.apply(conn, store.schema, version, events)
    metrics.observe(events, state)
    call = fold(events, state)
    assert call is not None, "decide returns events or refuses for a call that does not exist"
    if events:
        log.info(
            "call.recorded",
            call_id=str(call.call_id),
            client_id=str(call.client_id),
            events=[event.type for event in events],
        )
    return Outcome(call, events)


async def _enrich(conn: Connection, schema: str, command: Command, state: Call | None) -> Command:
    """Add what the directory knows and the command needs (the client's line, its terms)."""
    enricher = ENRICHERS.get(type(command))
    return command if enricher is None else await enricher(conn, schema, command, state)


async def with_line(
    conn: Connection, schema: str, command: ReceiveCall, state: Call | None
) -> ReceiveCall:
    """The client holding the dialled number, its current book version and office hours."""
    if state is not None:
        return command
    return replace(command, line=await directory.line_for(conn, schema, command.dialled_number))


async def with_urgency_kinds(
    conn: Connection, schema: str, command: RequestEscalation, state: Call | None
) -> RequestEscalation:
    """The urgency rules of the book version that was on screen when the call came in."""
    if state is None:
        return command
    kinds = await directory.urgency_kinds(conn, schema, state.client_id, state.book_version)
    return replace(command, urgency_kinds=kinds)


async def with_cold_call_terms(
    conn: Connection, schema: str, command: MarkNonBillable, state: Call | None
) -> MarkNonBillable:
    """Whether the client agreed that cold calls are free."""
    if state is None:
        return command
    free = await directory.cold_calls_free(conn, schema, state.client_id)
    return replace(command, cold_calls_free=free)


Enricher = Callable[[Connection, str, Any, Call | None], Awaitable[Command]]
ENRICHERS: dict[type[Command], Enricher] = {
    ReceiveCall: with_line,
    RequestEscalation: with_urgency_kinds,
    MarkNonBillable: with_cold_call_terms,
}
"""Commands that need facts from calls' projection of intake before they can be decided."""
