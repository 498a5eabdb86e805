"""Notify's own projection of intake: each client's language, preferences and office hours."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias
from uuid import UUID

import asyncpg

from libs.events.values import OfficeHours
from libs.platform.db import Connection
from services.notify.domain import filters
from services.notify.domain.model import Client

Queryable: TypeAlias = asyncpg.Pool | Connection


async def save_client(conn: Connection, schema: str, client: Client, at: datetime) -> None:
    """Insert or replace the client's row (its registration time stays the first one)."""
    await conn.execute(
        f"INSERT INTO {schema}.clients (client_id, name, language, mode, recipients, "
        "digest_time, office_hours, active, updated_at, registered_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10) "
        "ON CONFLICT (client_id) DO UPDATE "
        "SET name = EXCLUDED.name, language = EXCLUDED.language, mode = EXCLUDED.mode, "
        "recipients = EXCLUDED.recipients, digest_time = EXCLUDED.digest_time, "
        "office_hours = EXCLUDED.office_hours, active = EXCLUDED.active, "
        "updated_at = EXCLUDED.updated_at",
        client.client_id, client.name, client.language, client.mode, list(client.recipients),
        client.digest_time, client.office_hours.model_dump_json(), client.active, at,
        client.registered_at,
    )  # fmt: skip


async def load_client(db: Queryable, schema: str, client_id: UUID) -> Client | None:
    """The client, or None when intake's registration has not arrived (yet)."""
    row = await db.fetchrow(f"SELECT * FROM {schema}.clients WHERE client_id = $1", client_id)
    return _client(row) if row is not None else None


async def digest_clients(db: Queryable, schema: str) -> list[Client]:
    """Every client that gets daily digests (filters.gets_digests)."""
    rows = await db.fetch(
        f"SELECT * FROM {schema}.clients WHERE {filters.GETS_DIGESTS_SQL} ORDER BY client_id"
    )
    return [client for client in map(_client, rows) if filters.gets_digests(client)]


def _client(row: asyncpg.Record) -> Client:
    return Client(
        client_id=row["client_id"],
        name=row["name"],
        language=row["language"],
        mode=row["mode"],
        recipients=tuple(row["recipients"]),
        digest_time=row["digest_time"],
        office_hours=OfficeHours.model_validate_json(row["office_hours"]),
        registered_at=row["registered_at"],
        active=row["active"],
    )
