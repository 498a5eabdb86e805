"""Command handlers: load the stream, fold, decide, append and write the read model together.

Roster commands lock the operator's row first, so that changes to one operator take turns (the
API, the router giving them a call, the call ending); two registrations of one new operator
race on the stream's version instead, and the loser is decided again on the fresh stream.
Escalation steps run with the escalation's row locked (escalations.lock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

import structlog

from libs.events.envelope import Actor, Event
from libs.events.routing import EscalationDispatched, EscalationExhausted
from libs.platform.commands import retrying
from libs.platform.db import Connection
from libs.platform.store import EventStore
from services.routing import escalations, metrics, read_model
from services.routing.domain import ack_link, escalation, operators, roster
from services.routing.domain.escalation import (
    Acknowledge,
    DeskAnswered,
    Escalation,
    FireTimer,
    StartChain,
)
from services.routing.domain.operators import ReleaseCall, RosterCommand
from services.routing.escalations import Emit

log = structlog.get_logger(__name__)


async def change_roster(store: EventStore, command: RosterCommand) -> dict[str, Any] | None:
    """Run a roster command in a transaction of its own; the operator's row after it."""

    async def attempt() -> dict[str, Any] | None:
        async with store.transaction() as conn:
            emit = partial(store.append, conn=conn)
            return await roster_step(conn, store.schema, emit, command)

    row = await retrying(attempt, what=f"operator {command.operator_id}")
    await metrics.count_roster(store.pool, store.schema)
    return row


async def roster_step(
    conn: Connection, schema: str, emit: Emit, command: RosterCommand
) -> dict[str, Any] | None:
    """Decide a roster command in the caller's transaction; the row (None: no such operator)."""
    await read_model.lock_operator(conn, schema, command.operator_id)
    stream = roster.operator_stream(command.operator_id)
    state = roster.fold(await escalations.history(conn, schema, stream))
    events = operators.decide(command, state)
    after = roster.fold(events, state)
    if after is None:
        return None
    if not events:
        return await read_model.get_operator(conn, schema, command.operator_id)
    await emit(stream, state.version if state else 0, events)
    return await read_model.save_operator(conn, schema, after, command.at)


async def release_call(
    conn: Connection, schema: str, emit: Emit, call_id: UUID, at: datetime, keep: str | None = None
) -> None:
    """Whoever the roster shows on the call (but `keep`) is free again."""
    for operator_id in await read_model.on_call(conn, schema, call_id):
        if operator_id != keep:
            command = ReleaseCall(operator_id=operator_id, at=at, call_id=call_id)
            await roster_step(conn, schema, emit, command)


@dataclass(frozen=True)
class Outcome:
    """An escalation before a step, and the events the step recorded (none if nothing was due)."""

    before: Escalation
    events: list[Event]


async def advance(
    conn: Connection, schema: str, escalation_id: UUID, now: datetime, emit: Emit
) -> Outcome:
    """Start the chain or move it on if its attempt timed out; the row stays locked till commit."""
    row, state = await escalations.lock(conn, schema, escalation_id)
    chain = await escalations.chain_to_follow(conn, schema, row, state, now)
    if chain is None:  # the book version on screen has not reached routing yet
        return Outcome(state, [])
    command = StartChain if state.status == "requested" else FireTimer
    events = escalation.decide(command(at=now, chain=chain), state)
    await escalations.save(conn, schema, state, events, emit, now, chain.book_version)
    return Outcome(state, events)


async def desk_answered(
    conn: Connection, schema: str, client_id: UUID, conversation_id: UUID, at: datetime,
    actor: Actor, emit: Emit,
) -> list[Outcome]:  # fmt: skip
    """The bureau answered a mail: every open escalation of its conversation is acknowledged
    by the desk, in the caller's transaction (rows locked till commit)."""
    outcomes = []
    for escalation_id in await escalations.open_for_conversation(
        conn, schema, client_id, conversation_id
    ):
        _, state = await escalations.lock(conn, schema, escalation_id)
        events = escalation.decide(DeskAnswered(at=at, actor=actor), state)
        await escalations.save(conn, schema, state, events, emit, at)
        outcomes.append(Outcome(state, events))
    return outcomes


async def acknowledge(
    store: EventStore, escalation_id: UUID, command: Acknowledge, tenant: UUID | None = None
) -> Escalation:
    """Stop the chain; without a name, the contact of the acknowledged attempt is named.

    A tenant-bound caller (`tenant`) reaches only its own client's escalations.
    """
    async with store.transaction() as conn:
        row, state = await escalations.lock(conn, store.schema, escalation_id, tenant)
        if not command.by:
            chain = await escalations.chain_of(conn, store.schema, row, state)
            command = replace(command, chain=chain)
        events = escalation.decide(command, state)
        emit = partial(store.append, conn=conn)
        after = await escalations.save(conn, store.schema, state, events, emit, command.at)
    recorded(Outcome(state, events))
    return after


async def acknowledge_by_link(
    store: EventStore, escalation_id: UUID, command: Acknowledge, ttl: timedelta
) -> tuple[ack_link.Verdict, Escalation]:
    """Acknowledge over a signed link while it lives; its verdict and the escalation after."""
    async with store.transaction() as conn:
        row, state = await escalations.lock(conn, store.schema, escalation_id)
        chain = await escalations.chain_of(conn, store.schema, row, state)
        command = replace(command, chain=chain)
        verdict, events = ack_link.acknowledge_by_link(command, state, ttl)
        emit = partial(store.append, conn=conn)
        after = await escalations.save(conn, store.schema, state, events, emit, command.at)
    recorded(Outcome(state, events))
    return verdict, after


def recorded(outcome: Outcome) -> None:
    """Metrics and log lines for a step once it is recorded; an exhausted chain alerts."""
    metrics.observe(outcome.events, outcome.before)
    state = outcome.before
    ids = {"escalation_id": str(state.escalation_id), "subject": state.subject}
    if state.call_id is not None:
        ids["call_id"] = str(state.call_id)
    if state.conversation_id is not None:
        ids["conversation_id"] = str(state.conversation_id)
    for event in outcome.events:
        if isinstance(event, EscalationDispatched):
            log.info("escalation.dispatched", **ids, attempt=event.attempt, channel=event.channel)
        elif isinstance(event, EscalationExhausted):
            log.error(
                "escalation.exhausted",
                **ids,
                client_id=str(state.client_id),
                attempts=event.attempts,
                alert="nobody in the chain acknowledged; the bureau must step in",
            )
