"""Command handlers of calls: load the call, add what the directory knows, decide, append.

The shared runner (libs/platform/commands.py) appends at the stream's expected version and
decides again after a concurrent writer's conflict. The call's read row is written from the
folded call in the same transaction as the append.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog

from libs.events.envelope import Event
from libs.platform.commands import Loaded, PostgresTransaction, Steps, on_postgres, run
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.calls import directory, metrics, read_model
from services.calls.domain.commands import Command, MarkNonBillable, ReceiveCall, RequestEscalation
from services.calls.domain.decide import decide
from services.calls.domain.model import Call, fold, stream_id

log = structlog.get_logger(__name__)
State = Call | None


@dataclass(frozen=True)
class Outcome:
    """The call after a command, and the events the command appended (none if nothing new)."""

    call: Call
    events: list[Event]


async def execute(store: EventStore, command: Command) -> Outcome:
    """Decide the command on the call's current state and append what follows."""
    stream = stream_id(command.call_id)
    steps: Steps[PostgresTransaction, State] = Steps(
        load=lambda tx: _load(tx, stream),
        decide=lambda tx, state: _decide(tx, command, state),
        stream_of=lambda _: stream,
        project=_project,
    )
    done = await run(on_postgres(store), steps, what=f"call {command.call_id}")
    metrics.observe(done.events, done.state)
    call = fold(done.events, done.state)
    assert call is not None, "decide returns events or refuses for a call that does not exist"
    if done.events:
        log.info(
            "call.recorded",
            call_id=str(call.call_id),
            client_id=str(call.client_id),
            events=[event.type for event in done.events],
        )
    return Outcome(call, done.events)


async def _load(tx: PostgresTransaction, stream: str) -> Loaded[State]:
    call = fold(stored.event for stored in await tx.load(stream))
    return Loaded(call, {stream: call.version if call else 0})


async def _decide(tx: PostgresTransaction, command: Command, state: State) -> list[Event]:
    return decide(await _enrich(tx.conn, tx.schema, command, state), state)


async def _project(tx: PostgresTransaction, loaded: Loaded[State], events: Sequence[Event]) -> None:
    call = fold(events, loaded.state)
    assert call is not None
    await read_model.record(tx.conn, tx.schema, call, events)


async def _enrich(conn: Connection, schema: str, command: Command, state: Call | None) -> Command:
    """Add what the directory knows and the command needs (the client's line, its terms)."""
    enricher = ENRICHERS.get(type(command))
    return command if enricher is None else await enricher(conn, schema, command, state)


async def with_line(
    conn: Connection, schema: str, command: ReceiveCall, state: Call | None
) -> ReceiveCall:
    """Who held the dialled number when the call came in, since when, its book and hours."""
    if state is not None:
        return command
    line = await directory.line_at(conn, schema, command.dialled_number, command.received_at)
    return replace(command, line=line)


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
