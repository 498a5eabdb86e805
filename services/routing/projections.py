"""Routing's read model of calls: where each call went, kept with the CallRouted that says so."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from libs.events.calls import CallReceived
from libs.events.routing import CallRouted
from libs.platform.db import Connection
from services.routing.directory import Queryable
from services.routing.domain import reason


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


async def get_route(db: Queryable, schema: str, call_id: UUID) -> dict[str, Any] | None:
    """Where a call went, or None if routing has not routed it."""
    row = await db.fetchrow(f"SELECT * FROM {schema}.call_routes WHERE call_id = $1", call_id)
    return dict(row) if row is not None else None
