"""Digests missed while notify was down: each is made for its own day once notify is back.

The test restarts the shared notify process and moves the stack's clock on by days, so it
picks its days after wherever the clock stands (after test_delivery.py, which needs the
stack's first working day, when the whole package runs).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from libs.events import OfficeHours, new_id
from libs.platform.clock import read_clock, set_clock
from libs.platform.db import migrate
from services.notify import directory
from services.notify.migrations import MIGRATIONS
from tests.notify.conftest import (
    NotifyStack,
    mails_to,
    noted_call,
    notify_events,
    register,
    until_noted,
)
from tests.support.clock import AMSTERDAM
from tests.support.pipeline import wait_until

pytestmark = [pytest.mark.infra]
CAUGHT_UP = "frontdesk_digests_caught_up_total"


async def test_a_digest_missed_while_notify_was_down_is_made_for_its_own_day(
    stack: NotifyStack,
) -> None:
    day = (await clock_now(stack)).astimezone(AMSTERDAM).date() + timedelta(days=1)
    later = day + timedelta(days=1)
    await move_clock(stack, local(day, 8))
    client, inbox = await register(stack, mode="daily_digest", language="en", at=local(day, 8))
    firsts = [await noted_call(stack, client, local(day, h), f"First day {h}h") for h in (10, 15)]
    second = await noted_call(stack, client, local(later, 10), "Second day")
    await until_noted(stack, client, 3)
    await until_known(stack, client)

    # Down from before the first day's digest time until after the second day's.
    await asyncio.to_thread(stack.process.stop)
    await move_clock(stack, local(later, 18))
    await asyncio.to_thread(stack.process.start)

    sent = await notify_events(stack, client, "NotificationSent", 2)
    runs = await digest_runs(stack, client)
    assert [(r["day"], r["calls"]) for r in runs] == [(day, 2), (later, 1)]
    assert {e.notification_id: set(e.call_ids) for e in sent} == {
        runs[0]["notification_id"]: set(firsts),
        runs[1]["notification_id"]: {second},
    }
    mails = {m.message_id: m for m in await mails_to(stack, inbox, 2)}
    message_ids = {e.notification_id: e.message_id for e in sent}
    first_mail, second_mail = (mails[message_ids[r["notification_id"]]] for r in runs)
    assert day.isoformat() in first_mail.subject
    assert "First day 15h" in first_mail.body()
    assert "Second day" not in first_mail.body()
    assert later.isoformat() in second_mail.subject
    assert await caught_up(stack) >= 1

    await _nothing_twice(stack, client, inbox, later + timedelta(days=1))


async def _nothing_twice(stack: NotifyStack, client: UUID, inbox: str, next_day: date) -> None:
    """After a restart and a schedule run on the next day, still one mail per day."""
    await asyncio.to_thread(stack.process.stop)
    await asyncio.to_thread(stack.process.start)
    await move_clock(stack, local(next_day, 18))

    async def ran() -> bool:
        return next_day in [r["day"] for r in await digest_runs(stack, client)]

    await wait_until(ran, within=60, what=f"the schedule to run {next_day} for {client}")
    runs = await digest_runs(stack, client)
    assert [(r["day"], r["calls"]) for r in runs][-1] == (next_day, 0)  # nothing to report
    assert len(runs) == 3
    assert len(stack.smtp.messages(inbox)) == 2
    assert len(await notify_events(stack, client, "NotificationSent", 2)) == 2


async def test_clients_known_before_registrations_were_kept_start_from_their_last_change(
    database_url: str,
) -> None:
    schema, client_id = f"t{uuid4().hex[:10]}_notify", new_id()
    changed_at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    conn = await asyncpg.connect(database_url)
    rollback = conn.transaction()
    await rollback.start()
    try:
        await migrate(conn, schema, MIGRATIONS[:2])  # the schema before registered_at
        await conn.execute(
            f"INSERT INTO {schema}.clients VALUES "
            "($1, 'Bakker', 'nl', 'daily_digest', '{}', '17:15', $2::jsonb, true, $3)",
            client_id, OfficeHours().model_dump_json(), changed_at,
        )  # fmt: skip
        await migrate(conn, schema, MIGRATIONS)
        client = await directory.load_client(conn, schema, client_id)
    finally:
        await rollback.rollback()
        await conn.close()
    assert client is not None
    assert client.registered_at == changed_at


def local(day: date, hour: int) -> datetime:
    """An Amsterdam wall-clock hour on a day."""
    return datetime.combine(day, time(hour), AMSTERDAM)


async def clock_now(stack: NotifyStack) -> datetime:
    """Where the stack's simulation clock stands."""
    conn = await asyncpg.connect(stack.clock_dsn)
    try:
        return await read_clock(conn)
    finally:
        await conn.close()


async def move_clock(stack: NotifyStack, to: datetime) -> None:
    """Move the simulation clock forward, whether or not notify is running."""
    conn = await asyncpg.connect(stack.clock_dsn)
    try:
        await set_clock(conn, to)
    finally:
        await conn.close()


async def until_known(stack: NotifyStack, client: UUID) -> None:
    """Wait until notify has the client in its directory."""

    async def known() -> bool:
        response = await stack.http.get(f"/clients/{client}/notifications")
        return response.status_code == 200

    await wait_until(known, within=60, what=f"notify to know client {client}")


async def digest_runs(stack: NotifyStack, client: UUID) -> list[Any]:
    """The client's digest runs, oldest day first."""
    return await stack.pool.fetch(
        f"SELECT day, calls, notification_id FROM {stack.schema}.digest_runs "
        "WHERE client_id = $1 ORDER BY day",
        client,
    )


async def caught_up(stack: NotifyStack) -> float:
    """Notify's count of digests made after their day (a counter without labels)."""
    text = (await stack.http.get("/metrics")).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(CAUGHT_UP + " ")]
    return float(values[0]) if values else 0.0
