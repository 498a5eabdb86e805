"""Read tables of onboarding: the pool of numbers and the intake forms waiting for activation.

Written by the projectors of services/intake/read_model.py, in the appending transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from libs.events import Event
from libs.events.intake import IntakeFormReceived, NumberAddedToPool
from libs.platform.db import Connection
from services.intake.domain.onboarding import lead_time_due


async def form_received(conn: Connection, schema: str, event: IntakeFormReceived) -> None:
    """A complete form starts the wait for activation, due half a working day later."""
    await conn.execute(
        f"INSERT INTO {schema}.onboarding_waits (client_id, form_received_at, due_at) "
        "VALUES ($1, $2, $3)",
        event.client_id, event.occurred_at, lead_time_due(event.occurred_at),
    )  # fmt: skip


async def wait_ended(conn: Connection, schema: str, event: Event) -> None:
    """Activation (or leaving) ends the client's wait."""
    await conn.execute(
        f"UPDATE {schema}.onboarding_waits SET ended_at = $2 "
        "WHERE client_id = $1 AND ended_at IS NULL",
        event.client_id, event.occurred_at,
    )  # fmt: skip


async def added_to_pool(conn: Connection, schema: str, event: NumberAddedToPool) -> None:
    """A number joins the pool, free."""
    await conn.execute(
        f"INSERT INTO {schema}.number_pool (number, added_at) VALUES ($1, $2)",
        event.number, event.occurred_at,
    )  # fmt: skip


@dataclass(frozen=True)
class PoolRow:
    """A number of the bureau's pool as the read table holds it."""

    number: str
    added_at: datetime
    client_id: UUID | None
    reserved_at: datetime | None
    released_at: datetime | None
    quarantine_until: datetime | None


async def pool(pool: asyncpg.Pool, schema: str) -> list[PoolRow]:
    """Every number of the pool, in the order they are given out."""
    rows = await pool.fetch(
        f"SELECT number, added_at, client_id, reserved_at, released_at, quarantine_until "
        f"FROM {schema}.number_pool ORDER BY added_at, number"
    )
    return [PoolRow(**dict(row)) for row in rows]


async def waiting_past_due(pool: asyncpg.Pool, schema: str, now: datetime) -> int:
    """How many clients' complete intake forms still wait past their due time."""
    found = await pool.fetchval(
        f"SELECT count(*) FROM {schema}.onboarding_waits WHERE ended_at IS NULL AND due_at < $1",
        now,
    )
    return int(found)
