"""Escalation timers over a real routing process on the shared simulation clock.

Timers are rows in PostgreSQL: moving the clock fires due ones at once, and neither a kill
between attempts nor a crash inside the transaction that makes an attempt skips or repeats
one. Every attempt is checked on Kafka, where notify would pick it up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from libs.events import EscalationDispatched, EscalationExhausted, Event
from libs.platform.clock import set_clock
from tests.routing.conftest import (
    clock,
    escalate,
    escalation,
    receive,
    routing_events,
    routing_stack,
    seed_client,
    timer_rounds,
    timers_ran,
)
from tests.support.pipeline import wait_until
from tests.support.stack import Infrastructure, Stack

pytestmark = [pytest.mark.infra]

MONDAY_MORNING = "2026-06-01T08:00:00+00:00"
TIMEOUT = timedelta(seconds=600)


@pytest.fixture(scope="module")
async def stack(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A routing stack of its own: no other escalation may fall due while routing crashes."""
    async with routing_stack(infra, tmp_path_factory.mktemp("timers")) as own:
        yield own


async def chain_on_kafka(stack: Stack, escalation_id: UUID, count: int) -> list[Event]:
    """The escalation's events on the routing topic, once `count` of them are there."""
    found: list[Event] = []

    async def published() -> bool:
        found[:] = [
            e
            for e in await routing_events(stack)
            if getattr(e, "escalation_id", None) == escalation_id
        ]
        return len(found) >= count

    await wait_until(published, within=30, what=f"{count} events of {escalation_id} on Kafka")
    return found


async def stored_attempts(stack: Stack, escalation_id: UUID) -> list[int]:
    """The attempts routing has committed to its event store."""
    rows = await stack.pool.fetch(
        f"SELECT payload->>'attempt' AS attempt FROM {stack.schema}.events "
        "WHERE stream_id = $1 AND event_type = 'EscalationDispatched' ORDER BY stream_version",
        f"escalation-{escalation_id}",
    )
    return [int(row["attempt"]) for row in rows]


async def set_clock_directly(stack: Stack, instant: datetime) -> None:
    """Move the shared clock without routing (while routing is down or about to crash)."""
    async with stack.pool.acquire() as conn:
        await set_clock(conn, instant)


async def test_the_chain_moves_on_the_clock_and_survives_a_kill_and_a_crash(stack: Stack) -> None:
    escalation_id, due = await first_two_attempts_on_the_clock(stack)
    await kill_then_crash_inside_the_third_attempt(stack, escalation_id, at=due + TIMEOUT)
    stack.process.start()  # the startup tick finds attempt 2 overdue: attempt 3, once
    third = await escalation(stack, escalation_id, attempts=3)
    assert [a["contact_index"] for a in third["attempts"]] == [0, 1, 2]
    await clock(stack, set_to=third["ack_due_at"])

    events = await chain_on_kafka(stack, escalation_id, 4)
    dispatched = sorted(
        (e for e in events if isinstance(e, EscalationDispatched)), key=lambda d: d.attempt
    )
    assert [d.attempt for d in dispatched] == [1, 2, 3]
    assert [d.ack_due_at for d in dispatched] == [due, due + TIMEOUT, due + 2 * TIMEOUT]
    [exhausted] = [e for e in events if isinstance(e, EscalationExhausted)]
    assert (exhausted.attempts, len(events)) == (3, 4)
    final = (await stack.http.get(f"/escalations/{escalation_id}")).json()
    assert (final["state"], final["ack_due_at"]) == ("exhausted", None)
    # A graceful stop would wait for the consumer group to forget the killed members first.
    _kill(stack)


async def first_two_attempts_on_the_clock(stack: Stack) -> tuple[UUID, datetime]:
    """Escalate; attempt 2 comes exactly when attempt 1's timeout is reached, not a second early."""
    client = await seed_client(stack)
    requested = await escalate(stack, await receive(stack, client, MONDAY_MORNING))
    started = await clock(stack)
    first = await escalation(stack, requested.escalation_id, attempts=1)
    due = datetime.fromisoformat(first["ack_due_at"])
    assert due == started + TIMEOUT
    assert [a["contact_index"] for a in first["attempts"]] == [0]
    rounds = timer_rounds(stack)
    await clock(stack, set_to=(due - timedelta(seconds=1)).isoformat())
    await timers_ran(stack, since=rounds)  # one second early, nothing may fire
    assert await stored_attempts(stack, requested.escalation_id) == [1]
    await clock(stack, set_to=due.isoformat())
    second = await escalation(stack, requested.escalation_id, attempts=2)
    assert [a["contact_index"] for a in second["attempts"]] == [0, 1]
    await chain_on_kafka(stack, requested.escalation_id, 2)
    return requested.escalation_id, due


async def kill_then_crash_inside_the_third_attempt(
    stack: Stack, escalation_id: UUID, *, at: datetime
) -> None:
    """SIGKILL routing mid-chain; restarted, it dies again inside attempt 3's transaction."""
    _kill(stack)
    stack.process.start(extra_env={"FRONTDESK_CRASH_AT": "routing.timer.before_commit"})
    await set_clock_directly(stack, at)
    stack.process.wait_exit(timeout=30)
    assert await stored_attempts(stack, escalation_id) == [1, 2]


def _kill(stack: Stack) -> None:
    process = stack.process.proc
    assert process is not None
    process.kill()
    process.wait()
