"""Routing's own query tables: where each call went, and the operator roster.

`call_routes` keeps each call's CallRouted. `operators` is written from each operator's folded
stream in the transaction that appends to it; its rows are what the API lists and what the
router locks and chooses from (`presence_since` orders the free operators).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from libs.events.calls import CallReceived
from libs.events.routing import CallRouted, Presence
from libs.events.values import Language
from libs.platform.db import Connection
from services.routing.directory import Queryable
from services.routing.domain.roster import Operator
from services.routing.domain.route import reason

_COLUMNS = "operator_id, name, languages, presence, presence_since, current_call_id, updated_at"


def route_stream(call_id: UUID) -> str:
    """The stream in routing's store that holds a call's CallRouted."""
    return f"route-{call_id}"


async def routed_already(conn: Connection, schema: str, call_id: UUID) -> bool:
    """True once the call has been routed."""
    found = await conn.fetchval(f"SELECT 1 FROM {schema}.call_routes WHERE call_id = $1", call_id)
    return found is not None


async def record_route(
    conn: Connection, schema: str, call: CallReceived, routed: CallRouted
) -> None:
    """Keep where the call went and why."""
    await conn.execute(
        f"INSERT INTO {schema}.call_routes (call_id, client_id, destination, reason, "
        "operator_id, language, office_open, received_at, routed_at, event_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (call_id) DO NOTHING",
        call.call_id, call.client_id, routed.destination, reason(routed), routed.operator_id,
        routed.language, routed.office_open, call.received_at, routed.occurred_at,
        routed.event_id,
    )  # fmt: skip


async def get_route(
    db: Queryable, schema: str, call_id: UUID, client_id: UUID | None = None
) -> dict[str, Any] | None:
    """Where a call went, or None if routing has not routed it (or, with `client_id`, the
    call is another client's)."""
    row = await db.fetchrow(
        f"SELECT * FROM {schema}.call_routes WHERE call_id = $1 "
        "AND ($2::uuid IS NULL OR client_id = $2)",
        call_id,
        client_id,
    )
    return dict(row) if row is not None else None


async def save_operator(
    conn: Connection, schema: str, operator: Operator, updated_at: datetime
) -> dict[str, Any]:
    """Write an operator's row from their folded state."""
    row = await conn.fetchrow(
        f"INSERT INTO {schema}.operators AS o ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (operator_id) DO UPDATE SET name = EXCLUDED.name, "
        "languages = EXCLUDED.languages, presence = EXCLUDED.presence, "
        "presence_since = EXCLUDED.presence_since, current_call_id = EXCLUDED.current_call_id, "
        f"updated_at = EXCLUDED.updated_at RETURNING {_COLUMNS}",
        operator.operator_id, operator.name, sorted(operator.languages), operator.presence,
        operator.presence_since, operator.current_call_id, updated_at,
    )  # fmt: skip
    assert row is not None
    return dict(row)


async def lock_operator(conn: Connection, schema: str, operator_id: str) -> None:
    """Hold an operator's row until the transaction ends: their changes take turns."""
    await conn.execute(
        f"SELECT 1 FROM {schema}.operators WHERE operator_id = $1 FOR UPDATE", operator_id
    )


async def available(conn: Connection, schema: str) -> tuple[Operator, ...]:
    """The free operators, locked until the transaction ends (two calls never get one)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.operators WHERE presence = 'available' "
        "ORDER BY presence_since, operator_id FOR UPDATE"
    )
    return tuple(_operator(row) for row in rows)


async def on_call(conn: Connection, schema: str, call_id: UUID) -> list[str]:
    """The operators the roster shows on a call, locked (the index of `presence.busy_with`)."""
    rows = await conn.fetch(
        f"SELECT operator_id FROM {schema}.operators WHERE current_call_id = $1 "
        "ORDER BY operator_id FOR UPDATE",
        call_id,
    )
    return [row["operator_id"] for row in rows]


async def get_operator(db: Queryable, schema: str, operator_id: str) -> dict[str, Any] | None:
    """One operator's row, or None."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM {schema}.operators WHERE operator_id = $1", operator_id
    )
    return dict(row) if row is not None else None


async def operators(
    db: Queryable, schema: str, presence: Presence | None, language: Language | None
) -> list[dict[str, Any]]:
    """The roster, optionally only operators with a presence or speaking a language."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.operators "
        "WHERE ($1::text IS NULL OR presence = $1) AND ($2::text IS NULL OR $2 = ANY(languages)) "
        "ORDER BY operator_id",
        presence, language,
    )  # fmt: skip
    return [dict(row) for row in rows]


async def roster_counts(db: Queryable, schema: str) -> dict[tuple[str, str], int]:
    """How many operators speak each language with each presence."""
    rows = await db.fetch(
        f"SELECT language, presence, count(*) AS n FROM {schema}.operators, "
        "unnest(languages) AS language GROUP BY language, presence"
    )
    return {(row["language"], row["presence"]): row["n"] for row in rows}


def _operator(row: asyncpg.Record) -> Operator:
    return Operator(
        operator_id=row["operator_id"],
        name=row["name"],
        languages=frozenset(row["languages"]),
        presence=row["presence"],
        presence_since=row["presence_since"],
        current_call_id=row["current_call_id"],
    )
