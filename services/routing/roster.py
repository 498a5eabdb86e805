"""The operator roster in routing's own tables (plain state: the catalogue has no roster events).

Presence changes come from the API (an operator logs in, pauses, logs out) and from calls:
routing marks the operator it chose busy, and frees them when the call ends or is put through.
`presence_since` orders the free operators: whoever has been idle longest gets the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from libs.errors import NotFound
from libs.events.values import Language
from libs.platform.db import Connection
from services.routing.directory import Queryable
from services.routing.domain import Operator, Presence

_COLUMNS = "operator_id, name, languages, presence, presence_since, current_call_id, updated_at"


async def upsert(
    db: Queryable, schema: str, operator_id: str, name: str, languages: Sequence[Language],
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Add an operator (offline until they say otherwise) or change their name and languages."""
    row = await db.fetchrow(
        f"INSERT INTO {schema}.operators AS o (operator_id, name, languages, presence, "
        "presence_since, updated_at) VALUES ($1, $2, $3, 'offline', $4, $4) "
        "ON CONFLICT (operator_id) DO UPDATE SET name = EXCLUDED.name, "
        f"languages = EXCLUDED.languages, updated_at = EXCLUDED.updated_at RETURNING {_COLUMNS}",
        operator_id, name, sorted(set(languages)), now,
    )  # fmt: skip
    assert row is not None
    return _row(row)


async def set_presence(
    db: Queryable, schema: str, operator_id: str, presence: Presence, now: datetime
) -> dict[str, Any]:
    """Change an operator's presence; saying the same again keeps their place in the line."""
    row = await db.fetchrow(
        f"UPDATE {schema}.operators SET presence = $2, updated_at = $3, "
        "presence_since = CASE WHEN presence = $2 THEN presence_since ELSE $3 END, "
        "current_call_id = CASE WHEN $2 = 'busy' THEN current_call_id END "
        f"WHERE operator_id = $1 RETURNING {_COLUMNS}",
        operator_id, presence, now,
    )  # fmt: skip
    if row is None:
        raise NotFound(f"no operator {operator_id}")
    return _row(row)


async def available(conn: Connection, schema: str) -> tuple[Operator, ...]:
    """The free operators, locked until the transaction ends (two calls never get one)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.operators WHERE presence = 'available' "
        "ORDER BY presence_since, operator_id FOR UPDATE"
    )
    return tuple(_operator(row) for row in rows)


async def take_call(
    conn: Connection, schema: str, operator_id: str, call_id: UUID, now: datetime
) -> None:
    """The operator is on the call: busy, until it ends or is put through."""
    await conn.execute(
        f"UPDATE {schema}.operators SET presence = 'busy', current_call_id = $2, "
        "presence_since = $3, updated_at = $3 WHERE operator_id = $1",
        operator_id, call_id, now,
    )  # fmt: skip


async def release(
    conn: Connection, schema: str, call_id: UUID, now: datetime, keep: str | None = None
) -> None:
    """Whoever is busy with the call (but `keep`) is free again, at the back of the line."""
    await conn.execute(
        f"UPDATE {schema}.operators SET presence = 'available', current_call_id = NULL, "
        "presence_since = $2, updated_at = $2 "
        "WHERE current_call_id = $1 AND presence = 'busy' AND operator_id IS DISTINCT FROM $3",
        call_id, now, keep,
    )  # fmt: skip


async def get(db: Queryable, schema: str, operator_id: str) -> dict[str, Any] | None:
    """One operator's row, or None."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM {schema}.operators WHERE operator_id = $1", operator_id
    )
    return _row(row) if row is not None else None


async def listing(
    db: Queryable, schema: str, presence: Presence | None, language: Language | None
) -> list[dict[str, Any]]:
    """The roster, optionally only operators with a presence or speaking a language."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM {schema}.operators "
        "WHERE ($1::text IS NULL OR presence = $1) AND ($2::text IS NULL OR $2 = ANY(languages)) "
        "ORDER BY operator_id",
        presence, language,
    )  # fmt: skip
    return [_row(row) for row in rows]


async def counts(db: Queryable, schema: str) -> dict[tuple[str, str], int]:
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
    )


def _row(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)
